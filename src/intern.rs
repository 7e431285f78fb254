//! The one name → number map: values numbered 0, 1, 2 … in order of first appearance
//! (people by folder name, cluster labels renumbered), used wherever facemb interns.
use std::collections::HashMap;
use std::hash::Hash;

/// Numbers values in order of first appearance and keeps them in that order.
#[derive(Debug)]
pub struct Interner<T> {
    ids: HashMap<T, usize>,
    values: Vec<T>,
}

impl<T: Clone + Eq + Hash> Default for Interner<T> {
    fn default() -> Self {
        Interner { ids: HashMap::new(), values: Vec::new() }
    }
}

impl<T: Clone + Eq + Hash> Interner<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of `value`: its own when seen before, else the next one.
    pub fn id(&mut self, value: &T) -> usize {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len();
        self.ids.insert(value.clone(), id);
        self.values.push(value.clone());
        id
    }

    /// How many distinct values were seen.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values, by their number.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_in_order_of_first_appearance() {
        let mut names = Interner::new();
        let ids: Vec<usize> = ["bo", "ann", "bo", "cy", "ann"].iter().map(|n| names.id(&n.to_string())).collect();
        assert_eq!(ids, [0, 1, 0, 2, 1]);
        assert_eq!(names.len(), 3);
        assert_eq!(names.into_values(), ["bo", "ann", "cy"]);
    }
}
