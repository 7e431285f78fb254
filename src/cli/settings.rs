//! Parsed arguments → the validated inputs the library takes. Everything a user can get
//! wrong in a flag is refused here, before any image is read or any epoch trained.
use std::path::{Path, PathBuf};

use super::args::{
    BenchAlbumsArgs, DetectArgs, EvalArgs, ExperimentArgs, InferArgs, MatchArgs, OutputArgs, PixelArgs, SearchArgs, TrainArgs,
};
use crate::cluster;
use crate::commands;
use crate::config::{ModelConfig, Overrides, RunConfig};
use crate::detect::READY_DETECTOR;
use crate::error::{Error, Result};
use crate::evaluate::EvalOptions;
use crate::experiment::{self, ExperimentConfig};
use crate::files::Bundled;
use crate::model::checkpoint::READY_MODEL;
use crate::output::Charts;
use crate::progress::Reporter;
use crate::train;

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

    /// The run config and how the run treats what is on disk.
    pub fn settings(&self) -> Result<(RunConfig, train::Options)> {
        let replace = if self.overwrite { train::Replace::Always } else { train::Replace::IfNotWorse };
        Ok((self.config()?, train::Options { replace, resume: self.resume, reporter: Reporter::cli(self.run.quiet) }))
    }
}

/// The checkpoint folder a flag names, or else the ready one: compiled in, unpacked to
/// facemb's cache on first use and read from there like any other.
pub fn or_ready(given: Option<&Path>, ready: &Bundled, reporter: Reporter) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => ready.unpack(reporter),
    }
}

impl InferArgs {
    pub fn settings(&self) -> Result<commands::Infer> {
        let reporter = Reporter::cli(self.run.quiet);
        Ok(commands::Infer {
            input: self.input.folder().to_path_buf(),
            model: or_ready(self.model.as_deref(), &READY_MODEL, reporter)?,
            embedding_size: self.embedding_size,
            layer: self.layer,
            // --flip / --no-flip override each other: the last given wins.
            flip: if self.flip {
                Some(true)
            } else if self.no_flip {
                Some(false)
            } else {
                None
            },
            whiten: self.whiten,
            evaluation: self.eval.evaluation()?,
            outputs: self.out.outputs()?,
            backend: self.run.backend,
            batch_size: self.batch_size,
            faces: self.photos.faces,
            detector: or_ready(self.photos.detector.as_deref(), &READY_DETECTOR, reporter)?,
            reporter,
        })
    }
}

impl SearchArgs {
    /// The search, its values checked.
    pub fn search(&self) -> Result<crate::detect::Search> {
        if !(self.min_face.is_finite() && self.min_face >= 4.0) {
            return Err(Error::Invalid(format!("--min-face must be at least 4 pixels, got {}", self.min_face)));
        }
        if !(self.score > 0.0 && self.score < 1.0) {
            return Err(Error::Invalid(format!("--score must be a probability in (0, 1), got {}", self.score)));
        }
        Ok(crate::detect::Search { min_face: self.min_face, score: self.score })
    }

    /// The detector folder: `--detector`'s, or the ready one.
    pub fn detector(&self, reporter: Reporter) -> Result<PathBuf> {
        or_ready(self.detector.as_deref(), &READY_DETECTOR, reporter)
    }
}

impl DetectArgs {
    pub fn settings(&self) -> Result<commands::DetectPhotos> {
        let input = self.input.folder();
        let reporter = Reporter::cli(self.run.quiet);
        Ok(commands::DetectPhotos {
            input: input.to_path_buf(),
            out: self.out.clone().unwrap_or_else(|| PathBuf::from("results").join("detect").join(commands::infer::folder_name(input))),
            search: self.search.search()?,
            detector: self.search.detector(reporter)?,
            subject: self.subject,
            draw: !self.no_boxes,
            backend: self.run.backend,
            reporter,
        })
    }
}

impl PixelArgs {
    pub fn settings(&self) -> Result<commands::Pixels> {
        Ok(commands::Pixels {
            input: self.input.folder().to_path_buf(),
            size: self.image_size,
            evaluation: self.eval.evaluation()?,
            outputs: self.out.outputs()?,
            reporter: Reporter::cli(self.quiet),
        })
    }
}

impl MatchArgs {
    pub fn settings(&self) -> Result<commands::Match> {
        let reporter = Reporter::cli(self.run.quiet);
        Ok(commands::Match {
            gallery: self.gallery.clone(),
            query: self.query.folder().to_path_buf(),
            // --pixels reads no model (clap refuses it beside -m).
            model: if self.pixels.is_some() { PathBuf::new() } else { or_ready(self.model.as_deref(), &READY_MODEL, reporter)? },
            pixels: self.pixels,
            k: self.neighbours,
            vote: self.vote,
            tolerance: self.tolerance,
            save_gallery: self.save_gallery.clone(),
            force: self.force,
            unlabelled: self.unlabelled,
            out: self.out.clone(),
            montage: self.montage,
            report: self.report,
            batch_size: self.batch_size,
            faces: self.photos.faces,
            detector: or_ready(self.photos.detector.as_deref(), &READY_DETECTOR, reporter)?,
            backend: self.run.backend,
            reporter,
        })
    }
}

impl ExperimentArgs {
    pub fn experiment(&self) -> Result<ExperimentConfig> {
        let o = experiment::Overrides { folders: self.folder.clone(), seeds: self.seeds.clone(), sizes: self.sizes.clone() };
        ExperimentConfig::load(&self.config, &o)
    }
}

impl BenchAlbumsArgs {
    /// The album benchmark's settings: at least one album, a positive batch.
    pub fn settings(&self) -> Result<crate::bench::albums::AlbumBench> {
        use crate::bench::albums::{AlbumBench, Draw};
        if self.albums == 0 {
            return Err(Error::Invalid("--albums: must be ≥ 1".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::Invalid("--batch-size: must be ≥ 1".into()));
        }
        let draw = match &self.albums_csv {
            Some(csv) => Draw::Csv(csv.clone()),
            None => Draw::Seeded { albums: self.albums, seed: self.seed },
        };
        let reporter = Reporter::cli(self.run.quiet);
        Ok(AlbumBench {
            folder: self.input.folder().to_path_buf(),
            model: or_ready(self.model.as_deref(), &crate::model::checkpoint::READY_MODEL, reporter)?,
            draw,
            backend: self.run.backend,
            batch_size: self.batch_size,
            reporter,
        })
    }
}

impl EvalArgs {
    /// The clustering and scoring settings; normalisation is left to the embedder's
    /// default unless `--normalize` or `--raw` says otherwise.
    pub fn evaluation(&self) -> Result<commands::Evaluation> {
        self.check()?;
        let options = EvalOptions {
            methods: self.methods.clone().unwrap_or_else(|| cluster::Method::ALL.to_vec()),
            params: cluster::Params {
                eps: self.eps,
                min_samples: self.min_samples,
                k: self.clusters,
                cw_threshold: self.cw_threshold,
                link_threshold: self.link_threshold,
                calibrated: None,
                seed: self.seed,
            },
            normalize: false,
            methods_named: self.methods.is_some(),
        };
        // --normalize / --raw override each other: the last given wins.
        let normalize = if self.raw {
            Some(false)
        } else if self.normalize {
            Some(true)
        } else {
            None
        };
        Ok(commands::Evaluation { options, normalize, unlabelled: self.unlabelled })
    }

    /// Refuses a clustering value no method can use.
    fn check(&self) -> Result<()> {
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
        if self.clusters == Some(0) {
            return flag("clusters", "must be ≥ 1");
        }
        if self.min_samples == 0 {
            return flag("min-samples", "must be ≥ 1");
        }
        if self.methods.as_ref().is_some_and(Vec::is_empty) {
            return flag("methods", "name at least one method");
        }
        Ok(())
    }
}

impl OutputArgs {
    /// Where the run goes and what it draws; a chart name is a file name, not a path.
    pub fn outputs(&self) -> Result<commands::Outputs> {
        let charts = if self.no_charts {
            Charts { montage: self.montage, report: self.report, ..Charts::none() }
        } else {
            for (flag, name) in [("output-tsne", &self.output_tsne), ("output-umap", &self.output_umap)] {
                if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
                    return Err(Error::Invalid(format!("--{flag} {name:?}: a chart name is a file name, not a path")));
                }
            }
            Charts {
                tsne: Some(self.output_tsne.clone()),
                umap: Some(self.output_umap.clone()),
                montage: self.montage,
                report: self.report,
            }
        };
        Ok(commands::Outputs {
            out: self.out.clone(),
            charts,
            save_clusters: self.save_clusters.clone(),
            link: self.link,
            force: self.force,
        })
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

#[cfg(test)]
mod tests {
    use super::super::args::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(super::super::map_python_flags(args.iter().map(Into::into))).unwrap().command
    }

    /// Every argument of every command, nested ones included, says what it is for.
    #[test]
    fn every_flag_of_every_command_is_explained() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if !["help", "version"].contains(&id) && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let cli = Cli::command();
        walk(&cli, "facemb", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
        // The walk sees the nested arguments (flattened ones too): it is no empty loop.
        let infer = cli.find_subcommand("infer").unwrap();
        assert!(infer.get_arguments().any(|a| a.get_id() == "seed") && cli.get_subcommands().count() > 10);
    }

    #[test]
    fn the_model_flag_shows_one_default_the_ready_model_by_name() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        for cmd in ["infer", "match", "bench-infer"] {
            let help = cli.find_subcommand_mut(cmd).unwrap().render_long_help().to_string();
            let (_, from_m) = help.split_once("--model <CHECKPOINT>").unwrap_or_else(|| panic!("{cmd}: {help}"));
            let m = from_m.split("\n\n").next().unwrap();
            assert_eq!(m.matches("[default:").count(), 1, "{cmd}: {m}");
            assert!(
                m.contains(&format!("[default: the ready identity model {}", crate::model::checkpoint::READY_MODEL.name)),
                "{cmd}: {m}"
            );
        }
    }

    #[test]
    fn the_folder_is_given_plainly_or_by_any_of_its_flags() {
        let infer = |args: &[&str]| match parse(&[&["facemb", "infer"], args].concat()) {
            Command::Infer(a) => a.input.folder().to_path_buf(),
            _ => panic!(),
        };
        for args in [&["photos"][..], &["-id", "photos"], &["-id=photos"], &["--input-directory", "photos"], &["--folder", "photos"]] {
            assert_eq!(infer(args), std::path::Path::new("photos"), "{args:?}");
        }
        let Command::Pixels(a) = parse(&["facemb", "pixels", "photos", "-is", "8"]) else { panic!() };
        assert_eq!(a.input.folder(), std::path::Path::new("photos"));
        let Command::Detect(a) = parse(&["facemb", "detect", "photos"]) else { panic!() };
        assert_eq!(a.input.folder(), std::path::Path::new("photos"));
        let Command::BenchInfer(a) = parse(&["facemb", "bench-infer", "--folder", "photos"]) else { panic!() };
        assert_eq!(a.input.folder(), std::path::Path::new("photos"));
        for args in [&["facemb", "match", "-g", "known", "photos"][..], &["facemb", "match", "-g", "known", "--query", "photos"]] {
            let Command::Match(a) = parse(args) else { panic!() };
            assert_eq!(a.query.folder(), std::path::Path::new("photos"));
        }
        // None, or two: clap's usage error, naming both forms.
        let refused =
            |args: &[&str]| Cli::try_parse_from(super::super::map_python_flags(args.iter().map(Into::into))).unwrap_err().to_string();
        let e = refused(&["facemb", "infer"]);
        assert!(e.contains("<FOLDER|--input-directory <FOLDER>>"), "{e}");
        let e = refused(&["facemb", "infer", "a", "-id", "b"]);
        assert!(e.contains("cannot be used with"), "{e}");
        assert!(refused(&["facemb", "match", "-g", "known"]).contains("--query"));
    }

    #[test]
    fn methods_are_taken_space_or_comma_separated_and_k_has_a_name_per_meaning() {
        use crate::cluster::Method;
        let methods = |args: &[&str]| match parse(&[&["facemb", "pixels", "photos"], args].concat()) {
            Command::Pixels(a) => a.eval.evaluation().unwrap().options.methods,
            _ => panic!(),
        };
        let both = [Method::Kmeans, Method::Linkage];
        assert_eq!(methods(&["--methods", "kmeans", "linkage"]), both);
        assert_eq!(methods(&["--methods", "kmeans,linkage"]), both);
        assert_eq!(methods(&["--methods", "kmeans,linkage", "finch"]), [Method::Kmeans, Method::Linkage, Method::Finch]);
        assert_eq!(methods(&["--methods", "kmeans", "--quiet"]), [Method::Kmeans]);
        assert_eq!(methods(&[]), Method::ALL);
        // Clusters in infer and pixels, voting neighbours in match; --k still reads as each.
        for flag in ["--clusters", "--k"] {
            let Command::Infer(a) = parse(&["facemb", "infer", "photos", flag, "7"]) else { panic!() };
            assert_eq!(a.eval.evaluation().unwrap().options.params.k, Some(7));
        }
        for flag in ["--neighbours", "--k"] {
            let Command::Match(a) = parse(&["facemb", "match", "-g", "known", "photos", flag, "3"]) else { panic!() };
            assert_eq!(a.neighbours, 3);
        }
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
            ("--clusters", "0", "--clusters"),
            ("--k", "0", "--clusters"),
            ("--eps", "-1", "--eps"),
            ("--cw-threshold", "nan", "--cw-threshold"),
            ("--min-samples", "0", "--min-samples"),
            ("--link-threshold", "0", "--link-threshold"),
        ] {
            let Command::Pixels(a) = parse(&["facemb", "pixels", "-id", &folder, flag, value]) else { panic!() };
            let e = a.eval.evaluation().unwrap_err().to_string();
            assert!(e.starts_with(want), "{flag} {value}: {e}");
        }
        let Command::Pixels(a) = parse(&["facemb", "pixels", "-id", &folder, "-os", "../x"]) else { panic!() };
        assert!(a.out.outputs().unwrap_err().to_string().contains("not a path"));
        let Command::Pixels(a) = parse(&["facemb", "pixels", "-id", &folder, "--no-charts", "-os", "../x"]) else { panic!() };
        assert_eq!(a.out.outputs().unwrap().charts, crate::output::Charts::none());
        let opts = a.eval.evaluation().unwrap().options;
        assert_eq!((opts.methods.len(), opts.params.min_samples), (6, crate::cluster::DEFAULT_MIN_SAMPLES));
    }

    #[test]
    fn normalisation_follows_the_default_unless_a_flag_says_otherwise() {
        let folder = format!("{}/datasets/att_faces", env!("CARGO_MANIFEST_DIR"));
        let normalize = |flags: &[&str], default: bool| {
            let args: Vec<&str> = ["facemb", "pixels", "-id", &folder].iter().chain(flags).copied().collect();
            let Command::Pixels(a) = parse(&args) else { panic!() };
            a.eval.evaluation().unwrap().normalize.unwrap_or(default)
        };
        assert!(!normalize(&[], false) && normalize(&[], true));
        assert!(normalize(&["--normalize"], false) && !normalize(&["--raw"], true));
        // The last of the two flags wins.
        assert!(normalize(&["--raw", "--normalize"], false) && !normalize(&["--normalize", "--raw"], true));
    }
}
