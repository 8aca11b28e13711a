//! `sluice new transform|source --lang rust|js|python|go NAME`: scaffolds a
//! plugin project that builds as generated and carries its own sample test.
//!
//! Everything a project needs is embedded in the binary: the templates in
//! `host/templates/`, the WIT contract, and each language's helper library
//! straight from `plugins/` (the Rust SDK, `lib/sluice.js`, `sluice_plugin`,
//! the Go helper and bindings). So a generated project works outside a Sluice
//! checkout, and always matches the contract of the `sluice` that made it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;

/// Arguments of `sluice new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// What to create: a `transform` or a `source`.
    #[arg(value_enum)]
    kind: Kind,
    /// The plugin's name: lowercase letters, digits, `-` and `_`, starting
    /// with a letter. It names the package, the component file
    /// (`dist/NAME.wasm`) and the pipeline.
    name: String,
    /// The language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Where to create the project (default: ./NAME). Must not exist, or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Transform,
    Source,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Transform => "transform",
            Kind::Source => "source",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    #[value(alias = "javascript")]
    Js,
    #[value(alias = "py")]
    Python,
    #[value(alias = "golang")]
    Go,
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
            Lang::Go => "Go",
        })
    }
}

/// How a file's embedded text becomes the project's file.
#[derive(Clone, Copy)]
enum How {
    /// A template: `{{placeholders}}` are replaced.
    Template,
    /// Copied byte for byte.
    Verbatim,
    /// Go source of the repo's module `sluiceplugins`: import paths are moved
    /// into the project's module.
    GoImports,
    /// An npm lock file: the package name becomes the project's.
    NpmLock,
}

/// One file of a project: where it goes, what it holds, how it is rendered.
struct File {
    path: &'static str,
    text: &'static str,
    how: How,
    executable: bool,
}

const fn t(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        how: How::Template,
        executable: false,
    }
}

const fn exe(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        how: How::Template,
        executable: true,
    }
}

const fn copy(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        how: How::Verbatim,
        executable: false,
    }
}

const fn go(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        how: How::GoImports,
        executable: false,
    }
}

const fn lock(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        how: How::NpmLock,
        executable: false,
    }
}

/// Embeds a file of this repository, by its path from the repository root.
macro_rules! repo {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $path))
    };
}

/// Embeds a template from `host/templates/`.
macro_rules! tpl {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $path))
    };
}

/// Every project: the contract, `.gitignore`.
const COMMON: &[File] = &[
    copy("wit/log.wit", repo!("wit/log.wit")),
    copy("wit/source.wit", repo!("wit/source.wit")),
    copy("wit/transform.wit", repo!("wit/transform.wit")),
    copy("wit/types.wit", repo!("wit/types.wit")),
    copy("wit/worlds.wit", repo!("wit/worlds.wit")),
    copy(".gitignore", tpl!("shared/gitignore")),
];

const TRANSFORM_COMMON: &[File] = &[
    t("pipeline.yaml", tpl!("shared/transform/pipeline.yaml")),
    t(
        "test/input.jsonl",
        tpl!("shared/transform/test/input.jsonl"),
    ),
    t(
        "test/expected.jsonl",
        tpl!("shared/transform/test/expected.jsonl"),
    ),
];

const SOURCE_COMMON: &[File] = &[
    t("pipeline.yaml", tpl!("shared/source/pipeline.yaml")),
    t(
        "test/expected.jsonl",
        tpl!("shared/source/test/expected.jsonl"),
    ),
];

/// A Rust plugin crate with the SDK vendored in `vendor/sluice-plugin` (its
/// bindings read `../../wit`, which is the project's `wit/`).
const RUST: &[File] = &[
    t("Cargo.toml", tpl!("rust/Cargo.toml")),
    // Seeds the dependency versions the SDK is tested with (cargo drops the
    // entries of the Sluice plugins workspace on first build).
    copy("Cargo.lock", repo!("plugins/Cargo.lock")),
    copy(".cargo/config.toml", tpl!("rust/cargo-config.toml")),
    exe("build.sh", tpl!("rust/build.sh")),
    t("README.md", tpl!("rust/README.md")),
    copy(
        "vendor/sluice-plugin/Cargo.toml",
        tpl!("rust/sdk-Cargo.toml"),
    ),
    copy(
        "vendor/sluice-plugin/src/batch.rs",
        repo!("plugins/sdk/src/batch.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/bindings.rs",
        repo!("plugins/sdk/src/bindings.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/config.rs",
        repo!("plugins/sdk/src/config.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/json.rs",
        repo!("plugins/sdk/src/json.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/lib.rs",
        repo!("plugins/sdk/src/lib.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/log.rs",
        repo!("plugins/sdk/src/log.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/source.rs",
        repo!("plugins/sdk/src/source.rs"),
    ),
    copy(
        "vendor/sluice-plugin/src/transform.rs",
        repo!("plugins/sdk/src/transform.rs"),
    ),
    copy(
        "vendor/sluice-batch/Cargo.toml",
        tpl!("rust/batch-Cargo.toml"),
    ),
    copy("vendor/sluice-batch/src/lib.rs", repo!("batch/src/lib.rs")),
    copy(
        "vendor/sluice-batch/src/build.rs",
        repo!("batch/src/build.rs"),
    ),
    copy(
        "vendor/sluice-batch/src/entry.rs",
        repo!("batch/src/entry.rs"),
    ),
    copy(
        "vendor/sluice-batch/src/layout.rs",
        repo!("batch/src/layout.rs"),
    ),
    copy(
        "vendor/sluice-batch/src/owned.rs",
        repo!("batch/src/owned.rs"),
    ),
    copy(
        "vendor/sluice-batch/src/validate.rs",
        repo!("batch/src/validate.rs"),
    ),
    copy(
        "vendor/sluice-batch/src/view.rs",
        repo!("batch/src/view.rs"),
    ),
];

const RUST_TRANSFORM: &[File] = &[t("src/lib.rs", tpl!("rust/transform.rs"))];
const RUST_SOURCE: &[File] = &[t("src/lib.rs", tpl!("rust/source.rs"))];

/// npm lock of jco alone (QuickJS's componentize-qjs and wasm-tools ship in it).
const JCO_LOCK: &str = repo!("plugins/go/package-lock.json");

const JS_TRANSFORM: &[File] = &[
    t("package.json", tpl!("js/package.json")),
    lock("package-lock.json", JCO_LOCK),
    exe("build.sh", tpl!("js/build.sh")),
    t("README.md", tpl!("js/README.md")),
    t("src/{{name}}.js", tpl!("js/transform.js")),
    copy("lib/sluice.js", repo!("plugins/js/lib/sluice.js")),
    copy("lib/json.js", repo!("plugins/js/lib/json.js")),
    copy("lib/number.js", repo!("plugins/js/lib/number.js")),
];

const PYTHON_TRANSFORM: &[File] = &[
    t("requirements.txt", tpl!("python/requirements.txt")),
    exe("build.sh", tpl!("python/build.sh")),
    t("README.md", tpl!("python/README.md")),
    t("src/{{ident}}_transform.py", tpl!("python/transform.py")),
    copy(
        "sluice_plugin/__init__.py",
        repo!("plugins/python/sluice_plugin/__init__.py"),
    ),
    copy(
        "sluice_plugin/batch.py",
        repo!("plugins/python/sluice_plugin/batch.py"),
    ),
    copy(
        "sluice_plugin/log.py",
        repo!("plugins/python/sluice_plugin/log.py"),
    ),
    copy(
        "sluice_plugin/serde_json.py",
        repo!("plugins/python/sluice_plugin/serde_json.py"),
    ),
];

const GO_TRANSFORM: &[File] = &[
    t("go.mod", tpl!("go/go.mod")),
    copy("go.sum", repo!("plugins/go/go.sum")),
    t("package.json", tpl!("go/package.json")),
    lock("package-lock.json", JCO_LOCK),
    exe("build.sh", tpl!("go/build.sh")),
    t("README.md", tpl!("go/README.md")),
    t("main.go", tpl!("go/main.go")),
    go("sluice/sluice.go", repo!("plugins/go/sluice/sluice.go")),
    go(
        "serdejson/serdejson.go",
        repo!("plugins/go/serdejson/serdejson.go"),
    ),
    copy(
        "internal/wit/WIT.sha256",
        repo!("plugins/go/internal/wit/WIT.sha256"),
    ),
    go(
        "internal/wit/exports/export_sluice_plugin_transformer/transformer.go",
        repo!("plugins/go/internal/wit/exports/export_sluice_plugin_transformer/transformer.go"),
    ),
    go(
        "internal/wit/exports/wit_exports/wit_exports.go",
        repo!("plugins/go/internal/wit/exports/wit_exports/wit_exports.go"),
    ),
    copy(
        "internal/wit/imports/sluice_plugin_log/empty.s",
        repo!("plugins/go/internal/wit/imports/sluice_plugin_log/empty.s"),
    ),
    go(
        "internal/wit/imports/sluice_plugin_log/wit_bindings.go",
        repo!("plugins/go/internal/wit/imports/sluice_plugin_log/wit_bindings.go"),
    ),
    copy(
        "internal/wit/imports/sluice_plugin_transformer/empty.s",
        repo!("plugins/go/internal/wit/imports/sluice_plugin_transformer/empty.s"),
    ),
    go(
        "internal/wit/imports/sluice_plugin_transformer/wit_bindings.go",
        repo!("plugins/go/internal/wit/imports/sluice_plugin_transformer/wit_bindings.go"),
    ),
    copy(
        "internal/wit/imports/sluice_plugin_types/empty.s",
        repo!("plugins/go/internal/wit/imports/sluice_plugin_types/empty.s"),
    ),
    go(
        "internal/wit/imports/sluice_plugin_types/wit_bindings.go",
        repo!("plugins/go/internal/wit/imports/sluice_plugin_types/wit_bindings.go"),
    ),
    copy(
        "tools/componentize.mjs",
        repo!("plugins/go/tools/componentize.mjs"),
    ),
    copy(
        "tools/wasi_stub.wat",
        repo!("plugins/go/tools/wasi_stub.wat"),
    ),
];

/// The files of a project, or why this combination is not offered.
fn files(kind: Kind, lang: Lang) -> anyhow::Result<Vec<&'static File>> {
    let (own, shared): (&[&[File]], &[File]) = match (kind, lang) {
        (Kind::Transform, Lang::Rust) => (&[RUST, RUST_TRANSFORM], TRANSFORM_COMMON),
        (Kind::Source, Lang::Rust) => (&[RUST, RUST_SOURCE], SOURCE_COMMON),
        (Kind::Transform, Lang::Js) => (&[JS_TRANSFORM], TRANSFORM_COMMON),
        (Kind::Transform, Lang::Python) => (&[PYTHON_TRANSFORM], TRANSFORM_COMMON),
        (Kind::Transform, Lang::Go) => (&[GO_TRANSFORM], TRANSFORM_COMMON),
        (Kind::Source, lang) => bail!(
            "`sluice new source` is available with --lang rust only: the {lang} helper \
             implements the transform world, not the source world.\n  \
             help: write the source in Rust (`sluice new source --lang rust NAME`), or a \
             {lang} transform (`sluice new transform --lang {} NAME`); a {lang} source \
             means exporting `sluice:plugin/source-plugin` (wit/source.wit) with your \
             bindings generator by hand",
            lang_flag(lang)
        ),
    };
    Ok(own
        .iter()
        .flat_map(|files| files.iter())
        .chain(shared)
        .chain(COMMON)
        .collect())
}

fn lang_flag(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rust",
        Lang::Js => "js",
        Lang::Python => "python",
        Lang::Go => "go",
    }
}

/// Checks a plugin name; it becomes a crate, npm, Go module and Python module name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` is not a valid plugin name\n  help: use lowercase letters, digits, `-` and `_`, \
             starting with a letter (at most 64): it names the package, dist/NAME.wasm and the pipeline"
        );
    }
    if matches!(
        name,
        "sluice-plugin" | "sluice_plugin" | "sluice" | "serdejson" | "wit"
    ) {
        bail!("`{name}` is the name of a helper the project contains\n  help: pick another name");
    }
    Ok(())
}

/// The example source a new transform's pipeline reads from: the `orders`
/// component of the Sluice checkout this binary belongs to, when it is built.
fn example_source() -> Option<PathBuf> {
    let mut candidates =
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/orders.wasm")];
    // <checkout>/target/<profile>/sluice → <checkout>/plugins/dist/orders.wasm
    if let Ok(exe) = std::env::current_exe()
        && let Some(checkout) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        candidates.push(checkout.join("plugins/dist/orders.wasm"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// Values of the `{{placeholders}}`.
struct Values {
    name: String,
    ident: String,
    kind: Kind,
    source_plugin: String,
    source_plugin_note: String,
    sluice: String,
}

impl Values {
    fn render(&self, text: &str) -> String {
        let test_args = match self.kind {
            Kind::Transform => format!(
                "dist/{}.wasm --input test/input.jsonl --expect test/expected.jsonl",
                self.name
            ),
            Kind::Source => format!(
                "dist/{}.wasm --records 3 --expect test/expected.jsonl",
                self.name
            ),
        };
        text.replace("{{name}}", &self.name)
            .replace("{{ident}}", &self.ident)
            .replace("{{kind}}", &self.kind.to_string())
            .replace("{{test_args}}", &test_args)
            .replace("{{source_plugin_note}}", &self.source_plugin_note)
            .replace("{{source_plugin}}", &self.source_plugin)
            .replace("{{sluice}}", &self.sluice)
    }

    fn contents(&self, file: &File) -> anyhow::Result<String> {
        Ok(match file.how {
            How::Template => self.render(file.text),
            How::Verbatim => file.text.to_string(),
            How::GoImports => file
                .text
                .replace("\"sluiceplugins/", &format!("\"{}/", self.name)),
            How::NpmLock => {
                let mut lock: serde_json::Value =
                    serde_json::from_str(file.text).context("embedded package-lock.json")?;
                let name = serde_json::Value::String(self.name.clone());
                lock["name"] = name.clone();
                if let Some(root) = lock.pointer_mut("/packages/") {
                    root["name"] = name;
                }
                let mut text = serde_json::to_string_pretty(&lock)?;
                text.push('\n');
                text
            }
        })
    }
}

/// `sluice new`.
pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let files = files(args.kind, args.lang)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "{} already exists and is not empty\n  help: pick another --dir, or remove it",
                dir.display()
            );
        }
    }
    let source = example_source();
    let sluice = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.display().to_string().replace('\'', r"'\''"))
        .unwrap_or_else(|| "sluice".into());
    let values = Values {
        ident: args.name.replace('-', "_"),
        name: args.name.clone(),
        kind: args.kind,
        source_plugin: match &source {
            Some(p) => format!("${{SOURCE_PLUGIN:-{}}}", p.display()),
            None => "${SOURCE_PLUGIN}".into(),
        },
        source_plugin_note: match &source {
            Some(_) => "the example order generator of the Sluice checkout (or set SOURCE_PLUGIN)".into(),
            None => "set SOURCE_PLUGIN to a source component, e.g. plugins/dist/orders.wasm of a \
                     Sluice checkout (make plugins-rust) or one from `sluice new source --lang rust`"
                .into(),
        },
        sluice,
    };
    // Render everything first: nothing is written when anything fails.
    let rendered = files
        .iter()
        .map(|f| Ok((values.render(f.path), values.contents(f)?, f.executable)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (path, text, executable) in &rendered {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
        if *executable {
            make_executable(&target)?;
        }
    }

    let shown = dir.display();
    out!(
        "created {} {} `{}` in {shown} ({} files)",
        args.lang,
        args.kind,
        args.name,
        rendered.len()
    );
    let needs = match args.lang {
        Lang::Rust => "Rust with the wasm32-wasip2 target",
        Lang::Js => "node >= 20 and npm",
        Lang::Python => "python3 >= 3.10",
        Lang::Go => "Go >= 1.25, node >= 20 and npm",
    };
    out!("next (needs {needs}):");
    out!("  cd {shown}");
    out!(
        "  ./build.sh --test         # builds dist/{}.wasm, runs test/ with sluice test --expect",
        args.name
    );
    out!("  sluice run pipeline.yaml  # runs it on an embedded Kafka cluster");
    if args.kind == Kind::Transform && source.is_none() {
        out!(
            "  (pipeline.yaml needs a source: SOURCE_PLUGIN=/path/to/source.wasm, e.g. one from \
             `sluice new source --lang rust`)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms)
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("my-filter_2").is_ok());
        for bad in ["", "My", "2x", "a b", "a.b", "sluice-plugin"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_language_has_a_transform_and_only_rust_a_source() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python, Lang::Go] {
            let all = files(Kind::Transform, lang).unwrap_or_default();
            assert!(all.iter().any(|f| f.path == "build.sh"), "{lang}");
            assert!(
                all.iter().any(|f| f.path == "test/expected.jsonl"),
                "{lang}"
            );
        }
        assert!(files(Kind::Source, Lang::Rust).is_ok());
        for lang in [Lang::Js, Lang::Python, Lang::Go] {
            let err = files(Kind::Source, lang)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("--lang rust"), "{err}");
        }
    }

    #[test]
    fn go_imports_move_into_the_project_module() {
        let values = Values {
            name: "tagger".into(),
            ident: "tagger".into(),
            kind: Kind::Transform,
            source_plugin: String::new(),
            source_plugin_note: String::new(),
            sluice: String::new(),
        };
        let file = go("x.go", "import (\n\t\"sluiceplugins/sluice\"\n)\n");
        assert_eq!(
            values.contents(&file).ok().as_deref(),
            Some("import (\n\t\"tagger/sluice\"\n)\n")
        );
        let lock = values
            .contents(&lock("package-lock.json", JCO_LOCK))
            .unwrap_or_default();
        assert!(lock.contains("\"name\": \"tagger\""));
    }
}
