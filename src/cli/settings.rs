//! Parsed arguments → the validated inputs the library takes. Everything a user can get
//! wrong in a flag is refused here, before any image is read or any epoch trained.
use std::path::{Path, PathBuf};

use super::args::{EvalArgs, ExperimentArgs, OutputArgs, TrainArgs};
use crate::cluster;
use crate::config::{ModelConfig, Overrides, RunConfig};
use crate::error::{Error, Result};
use crate::evaluate::EvalOptions;
use crate::experiment::{self, ExperimentConfig};
use crate::files::Claims;
use crate::output::{self, Charts, OutDir};

impl TrainArgs {
    /// The run config: the file, the flags over it, validated once.
    pub fn config(&self) -> Result<RunConfig> {
        let o = Overrides {
            embedding_size: self.embedding_size,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            seed: self.seed,
            data: self.data.clone(),
            max_per_class: self.max_per_class,
            name: self.name.clone(),
        };
        RunConfig::load(&self.config, &o)
    }
}

impl ExperimentArgs {
    pub fn experiment(&self) -> Result<ExperimentConfig> {
        let o = experiment::Overrides { folders: self.folder.clone(), seeds: self.seeds.clone(), sizes: self.sizes.clone() };
        ExperimentConfig::load(&self.config, &o)
    }
}

impl EvalArgs {
    /// The clustering and scoring options; `normalize` is what applies when neither
    /// `--normalize` nor `--raw` is given.
    pub fn options(&self, normalize: bool) -> Result<EvalOptions> {
        let flag = |name: &str, why: &str| Err(Error::Invalid(format!("--{name}: {why}")));
        if self.eps.is_some_and(|e| !(e.is_finite() && e > 0.0)) {
            return flag("eps", "must be a positive number");
        }
        if self.link_threshold.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return flag("link-threshold", "must be a positive number");
        }
        if self.cw_threshold.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
            return flag("cw-threshold", "must be a number ≥ 0");
        }
        if self.k == Some(0) {
            return flag("k", "must be ≥ 1");
        }
        if self.min_samples == 0 {
            return flag("min-samples", "must be ≥ 1");
        }
        if self.methods.is_empty() {
            return flag("methods", "name at least one method");
        }
        Ok(EvalOptions {
            methods: self.methods.clone(),
            params: cluster::Params {
                eps: self.eps,
                min_samples: self.min_samples,
                k: self.k,
                cw_threshold: self.cw_threshold,
                link_threshold: self.link_threshold,
                calibrated: None,
                seed: self.seed,
            },
            normalize: (normalize || self.normalize) && !self.raw,
        })
    }
}

impl OutputArgs {
    /// The charts to draw; a chart name is a file name, not a path.
    pub fn charts(&self) -> Result<Charts> {
        if self.no_charts {
            return Ok(Charts { montage: self.montage, report: self.report, ..Charts::none() });
        }
        for (flag, name) in [("output-tsne", &self.output_tsne), ("output-umap", &self.output_umap)] {
            if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
                return Err(Error::Invalid(format!("--{flag} {name:?}: a chart name is a file name, not a path")));
            }
        }
        Ok(Charts {
            tsne: Some(self.output_tsne.clone()),
            umap: Some(self.output_umap.clone()),
            montage: self.montage,
            report: self.report,
        })
    }

    /// What a run with these outputs writes (`out`, `--save-clusters`) and reads
    /// (`inputs`, by flag): no destination may be, hold or lie inside another.
    pub fn claims(&self, out: &Path, inputs: &[(&'static str, &Path)]) -> Claims {
        let claims = inputs.iter().fold(Claims::new(), |c, (flag, p)| c.input(flag, p)).output("--out", out);
        match &self.save_clusters {
            Some(keep) => claims.output("--save-clusters", keep),
            None => claims,
        }
    }

    /// The output folder and the `--save-clusters` destination (when one was given),
    /// each checked against everything else the run reads and writes, and locked.
    pub fn begin(&self, out: &Path, inputs: &[(&'static str, &Path)]) -> Result<(OutDir, Option<output::folders::ClusterFolders>)> {
        let claims = self.claims(out, inputs);
        let keep = self.save_clusters.as_deref().map(|d| output::folders::ClusterFolders::begin(d, &claims, self.link, self.force));
        let keep = keep.transpose()?;
        Ok((OutDir::begin_claimed(out, &claims)?, keep))
    }

    /// `--out`, or [`output::default_dir`].
    pub fn dir(&self, what: &str, input: &Path) -> PathBuf {
        self.out.clone().unwrap_or_else(|| output::default_dir(&PathBuf::from("results").join(what), &folder_name(input), input))
    }
}

/// The network `bench` times: the config file's (or the default one's) with the flags over it.
pub fn bench_model(config: Option<&Path>, channels: Option<&[usize]>, embedding_size: Option<usize>) -> Result<ModelConfig> {
    let mut m = match config {
        Some(p) => RunConfig::load(p, &Overrides::default())?.model,
        None => ModelConfig::new(),
    };
    if let Some(c) = channels {
        m.channels = c.to_vec();
    }
    if let Some(e) = embedding_size {
        m.embedding_size = e;
    }
    m.validate()?;
    Ok(m)
}

/// The last component of `p` after resolving it (`.` names the current folder).
pub fn folder_name(p: &Path) -> String {
    p.canonicalize().ok().and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "folder".into())
}

#[cfg(test)]
mod tests {
    use super::super::args::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(super::super::map_python_flags(args.iter().map(Into::into))).unwrap().command
    }

    #[test]
    fn train_flags_override_the_config_file_in_order() {
        let cfg = format!("{}/configs/default.toml", env!("CARGO_MANIFEST_DIR"));
        let Command::Train(a) = parse(&["facemb", "train", "-c", &cfg, "-e", "24", "--epochs", "3"]) else { panic!("not train") };
        let c = a.config().unwrap();
        assert_eq!((c.model.embedding_size, c.training.epochs, c.training.batch_size), (24, 3, 64));
        // A negative learning rate reaches the range check, not clap's "unexpected argument".
        let Command::Train(a) = parse(&["facemb", "train", "-c", &cfg, "--learning-rate", "-1"]) else { panic!("not train") };
        assert!(a.config().unwrap_err().to_string().contains("learning_rate must be > 0"));
    }

    #[test]
    fn bad_clustering_and_chart_flags_are_refused_before_any_work() {
        let folder = format!("{}/datasets/att_faces", env!("CARGO_MANIFEST_DIR"));
        for (flag, value, want) in [
            ("--k", "0", "--k"),
            ("--eps", "-1", "--eps"),
            ("--cw-threshold", "nan", "--cw-threshold"),
            ("--min-samples", "0", "--min-samples"),
            ("--link-threshold", "0", "--link-threshold"),
        ] {
            let Command::Pixels(a) = parse(&["facemb", "pixels", "-id", &folder, flag, value]) else { panic!() };
            let e = a.eval.options(false).unwrap_err().to_string();
            assert!(e.starts_with(want), "{flag} {value}: {e}");
        }
        let Command::Pixels(a) = parse(&["facemb", "pixels", "-id", &folder, "-os", "../x"]) else { panic!() };
        assert!(a.out.charts().unwrap_err().to_string().contains("not a path"));
        let Command::Pixels(a) = parse(&["facemb", "pixels", "-id", &folder, "--no-charts", "-os", "../x"]) else { panic!() };
        assert_eq!(a.out.charts().unwrap(), crate::output::Charts::none());
        let opts = a.eval.options(false).unwrap();
        assert_eq!((opts.methods.len(), opts.params.min_samples), (5, crate::cluster::DEFAULT_MIN_SAMPLES));
    }

    #[test]
    fn normalisation_follows_the_default_unless_a_flag_says_otherwise() {
        let folder = format!("{}/datasets/att_faces", env!("CARGO_MANIFEST_DIR"));
        let normalize = |flags: &[&str], default: bool| {
            let args: Vec<&str> = ["facemb", "pixels", "-id", &folder].iter().chain(flags).copied().collect();
            let Command::Pixels(a) = parse(&args) else { panic!() };
            a.eval.options(default).unwrap().normalize
        };
        assert!(!normalize(&[], false) && normalize(&[], true));
        assert!(normalize(&["--normalize"], false) && !normalize(&["--raw"], true));
        // The last of the two flags wins.
        assert!(normalize(&["--raw", "--normalize"], false) && !normalize(&["--normalize", "--raw"], true));
    }
}
