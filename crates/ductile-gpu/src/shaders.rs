//! The shader library: WGSL modules under `shaders/`, embedded at build time,
//! composed with a small preprocessor and validated by naga.
//!
//! Preprocessor directives (each on a line of its own):
//! - `#import common/real` inlines `shaders/common/real.wgsl` once per module
//!   (later imports of the same file are skipped), recursively;
//! - `#if NAME`, `#else`, `#endif` keep or drop lines by a define (may nest);
//! - `#unroll N NAME` … `#endunroll` writes the lines between N times, with
//!   the word `NAME` replaced by `0u`, `1u`, … `(N-1)u` (no nesting). Loops
//!   over a stencil's 27 nodes are written this way: llvmpipe keeps a local
//!   array indexed by a loop variable in memory and indexes it lane by lane,
//!   and does not unroll such loops itself (unrolling the scatter P2G made it
//!   30 % faster there).
//!
//! Every composed module starts with the precision header: `alias Real = f32;`
//! (or `f64`), the matching `vec3r`/`mat3r` aliases, and the defines
//! `REAL_F64` and `FLOAT_ATOMICS` as the configuration says.

use std::collections::HashSet;
use thiserror::Error;

include!(concat!(env!("OUT_DIR"), "/shader_files.rs"));

/// Floating-point precision of the kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// 32-bit floats.
    #[default]
    F32,
    /// 64-bit floats (`SHADER_F64`).
    F64,
}

impl Precision {
    /// Bytes in one `Real`.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

/// How shaders accumulate floats concurrently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AtomicsMode {
    /// `atomic<f32>` with `atomicAdd` (`SHADER_FLOAT32_ATOMIC`).
    #[default]
    Native,
    /// Compare-and-swap loop on `atomic<u32>` holding the float's bits.
    CompareSwap,
}

/// What a composed module is specialised for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShaderConfig {
    /// Precision of `Real`.
    pub precision: Precision,
    /// Float accumulation path.
    pub atomics: AtomicsMode,
}

impl ShaderConfig {
    /// All combinations, for validation tests.
    pub fn all() -> [ShaderConfig; 4] {
        let mut out = [ShaderConfig::default(); 4];
        let mut i = 0;
        for precision in [Precision::F32, Precision::F64] {
            for atomics in [AtomicsMode::Native, AtomicsMode::CompareSwap] {
                out[i] = ShaderConfig { precision, atomics };
                i += 1;
            }
        }
        out
    }

    fn defines(&self) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.precision == Precision::F64 {
            d.push("REAL_F64");
        }
        if self.atomics == AtomicsMode::Native {
            d.push("FLOAT_ATOMICS");
        }
        d
    }

    fn header(&self) -> String {
        let real = match self.precision {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        };
        format!(
            "// ductile: precision {real}, atomics {:?}\nalias Real = {real};\nalias vec2r = vec2<Real>;\nalias vec3r = vec3<Real>;\nalias vec4r = vec4<Real>;\nalias mat3r = mat3x3<Real>;\n",
            self.atomics
        )
    }
}

/// Errors from composing or validating a shader.
#[derive(Debug, Error)]
pub enum ShaderError {
    /// A module or import does not exist.
    #[error("shader module `{0}` not found under shaders/")]
    NotFound(String),
    /// Bad preprocessor directive.
    #[error("shaders/{module}.wgsl:{line}: {message}")]
    Directive {
        /// Module name.
        module: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// naga rejected the composed source.
    #[error("shader `{module}` ({config:?}) failed to {stage}:\n{message}")]
    Naga {
        /// Module name.
        module: String,
        /// Configuration.
        config: ShaderConfig,
        /// `parse` or `validate`.
        stage: &'static str,
        /// naga's report.
        message: String,
    },
}

/// `line` with every whole-word occurrence of `word` replaced by `with`.
fn replace_word(line: &str, word: &str, with: &str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + word.len()..].chars().next();
        let whole = !before.is_some_and(is_ident) && !after.is_some_and(is_ident);
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { word });
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Access to the embedded shader modules.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShaderLibrary;

impl ShaderLibrary {
    /// Names of all modules (e.g. `mpm/g2p`), sorted.
    pub fn modules() -> Vec<&'static str> {
        SHADER_FILES.iter().map(|(n, _)| *n).collect()
    }

    /// Names of the modules that define entry points (contain `@compute`, `@vertex` or `@fragment`).
    pub fn entry_modules() -> Vec<&'static str> {
        SHADER_FILES
            .iter()
            .filter(|(_, s)| s.contains("@compute") || s.contains("@vertex"))
            .map(|(n, _)| *n)
            .collect()
    }

    /// Raw source of a module.
    pub fn source(name: &str) -> Result<&'static str, ShaderError> {
        SHADER_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| ShaderError::NotFound(name.to_string()))
    }

    /// Composes a module: header, imports inlined, conditionals resolved.
    pub fn compose(name: &str, config: ShaderConfig) -> Result<String, ShaderError> {
        let mut out = config.header();
        let mut seen = HashSet::new();
        let defines = config.defines();
        Self::include(name, &defines, &mut seen, &mut out)?;
        Ok(out)
    }

    /// Composes a module given as source text `src` (a kernel kept outside
    /// `shaders/`, such as a test's solver): the same header, directives and
    /// `#import`s of the library's modules as [`Self::compose`].
    pub fn compose_source(
        name: &str,
        src: &str,
        config: ShaderConfig,
    ) -> Result<String, ShaderError> {
        let mut out = config.header();
        let mut seen = HashSet::new();
        seen.insert(name.to_string());
        let defines = config.defines();
        Self::expand(name, src, &defines, &mut seen, &mut out)?;
        Ok(out)
    }

    fn include(
        name: &str,
        defines: &[&str],
        seen: &mut HashSet<String>,
        out: &mut String,
    ) -> Result<(), ShaderError> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        Self::expand(name, Self::source(name)?, defines, seen, out)
    }

    /// Appends module `name`'s source `src` to `out` with its directives applied.
    fn expand(
        name: &str,
        src: &str,
        defines: &[&str],
        seen: &mut HashSet<String>,
        out: &mut String,
    ) -> Result<(), ShaderError> {
        // Stack of (this branch active, any branch of this #if taken).
        let mut stack: Vec<(bool, bool)> = Vec::new();
        let active = |stack: &Vec<(bool, bool)>| stack.iter().all(|(a, _)| *a);
        let err = |line: usize, message: &str| ShaderError::Directive {
            module: name.to_string(),
            line: line + 1,
            message: message.to_string(),
        };
        // An open `#unroll`: (count, name, first line, body lines).
        let mut unroll: Option<(usize, String, usize, Vec<&str>)> = None;
        for (i, line) in src.lines().enumerate() {
            let t = line.trim();
            if let Some((count, word, _, body)) = unroll.as_mut() {
                if t == "#endunroll" {
                    if active(&stack) {
                        for k in 0..*count {
                            for l in body.iter() {
                                out.push_str(&replace_word(l, word, &format!("{k}u")));
                                out.push('\n');
                            }
                        }
                    }
                    unroll = None;
                } else if t.starts_with('#') {
                    return Err(err(i, &format!("`{t}` inside #unroll")));
                } else {
                    body.push(line);
                }
                continue;
            }
            if let Some(rest) = t.strip_prefix("#unroll ") {
                let mut parts = rest.split_whitespace();
                let count = parts.next().and_then(|c| c.parse::<usize>().ok());
                let word = parts.next();
                match (count, word, parts.next()) {
                    (Some(count), Some(word), None)
                        if count > 0
                            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        unroll = Some((count, word.to_string(), i, Vec::new()));
                    }
                    _ => return Err(err(i, "expected `#unroll COUNT NAME`")),
                }
            } else if t == "#endunroll" {
                return Err(err(i, "#endunroll without #unroll"));
            } else if let Some(rest) = t.strip_prefix("#if ") {
                let on = defines.contains(&rest.trim());
                stack.push((on, on));
            } else if t == "#else" {
                let top = stack
                    .last_mut()
                    .ok_or_else(|| err(i, "#else without #if"))?;
                *top = (!top.1, true);
            } else if t == "#endif" {
                stack.pop().ok_or_else(|| err(i, "#endif without #if"))?;
            } else if let Some(rest) = t.strip_prefix("#import ") {
                if active(&stack) {
                    Self::include(rest.trim(), defines, seen, out)?;
                }
            } else if t.starts_with('#') {
                return Err(err(i, &format!("unknown directive `{t}`")));
            } else if active(&stack) {
                out.push_str(line);
                out.push('\n');
            } else {
                out.push('\n');
            }
        }
        if let Some((_, _, first, _)) = unroll {
            return Err(err(first, "#unroll without #endunroll"));
        }
        if !stack.is_empty() {
            return Err(err(src.lines().count(), "#if without #endif"));
        }
        Ok(())
    }

    /// Composes, parses and validates a module with naga (needs no adapter).
    pub fn validate(name: &str, config: ShaderConfig) -> Result<naga::Module, ShaderError> {
        Ok(Self::validate_with_info(name, config)?.0)
    }

    /// The `(group, binding)` pairs that entry point `entry` of module `name` uses.
    pub fn used_bindings(
        name: &str,
        config: ShaderConfig,
        entry: &str,
    ) -> Result<Vec<(u32, u32)>, ShaderError> {
        Self::used_bindings_in(name, &Self::compose(name, config)?, config, entry)
    }

    /// [`Self::used_bindings`] of an already composed source `src` (named `name` in errors).
    pub fn used_bindings_in(
        name: &str,
        src: &str,
        config: ShaderConfig,
        entry: &str,
    ) -> Result<Vec<(u32, u32)>, ShaderError> {
        let (module, info) = Self::validate_composed(name, src, config)?;
        let index = module
            .entry_points
            .iter()
            .position(|e| e.name == entry)
            .ok_or_else(|| ShaderError::Naga {
                module: name.to_string(),
                config,
                stage: "entry point",
                message: format!("no entry point `{entry}`"),
            })?;
        let ep = info.get_entry_point(index);
        let mut out: Vec<(u32, u32)> = module
            .global_variables
            .iter()
            .filter(|(h, _)| !ep[*h].is_empty())
            .filter_map(|(_, g)| g.binding.as_ref().map(|b| (b.group, b.binding)))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    fn validate_with_info(
        name: &str,
        config: ShaderConfig,
    ) -> Result<(naga::Module, naga::valid::ModuleInfo), ShaderError> {
        Self::validate_composed(name, &Self::compose(name, config)?, config)
    }

    fn validate_composed(
        name: &str,
        src: &str,
        config: ShaderConfig,
    ) -> Result<(naga::Module, naga::valid::ModuleInfo), ShaderError> {
        let naga_err = |stage, message| ShaderError::Naga {
            module: name.to_string(),
            config,
            stage,
            message,
        };
        let module = naga::front::wgsl::parse_str(src)
            .map_err(|e| naga_err("parse", e.emit_to_string(src)))?;
        let mut caps = naga::valid::Capabilities::default();
        if config.precision == Precision::F64 {
            caps |= naga::valid::Capabilities::FLOAT64;
        }
        if config.atomics == AtomicsMode::Native {
            caps |= naga::valid::Capabilities::SHADER_FLOAT32_ATOMIC;
        }
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .validate(&module)
            .map_err(|e| {
                // The emitted text names only the outermost error; the cause follows.
                let cause = format!("{:?}", e.as_inner());
                naga_err(
                    "validate",
                    format!("{}\ncause: {cause}", e.emit_to_string(src)),
                )
            })?;
        Ok((module, info))
    }

    /// Creates a wgpu shader module from a composed source.
    pub fn create_module(
        device: &wgpu::Device,
        name: &str,
        config: ShaderConfig,
    ) -> Result<wgpu::ShaderModule, ShaderError> {
        let src = Self::compose(name, config)?;
        Ok(device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module with entry points composes and validates in every configuration.
    #[test]
    fn all_shaders_validate() {
        let modules = ShaderLibrary::entry_modules();
        assert!(!modules.is_empty());
        let mut failures = Vec::new();
        for m in &modules {
            for c in ShaderConfig::all() {
                if let Err(e) = ShaderLibrary::validate(m, c) {
                    failures.push(e.to_string());
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn header_sets_precision() {
        let c = ShaderConfig {
            precision: Precision::F64,
            atomics: AtomicsMode::CompareSwap,
        };
        let s = ShaderLibrary::compose("common/real", c).unwrap();
        assert!(s.contains("alias Real = f64;"));
        assert!(!s.contains("alias Real = f32;"));
    }

    #[test]
    fn imports_are_inlined_once() {
        let s = ShaderLibrary::compose("mpm/g2p", ShaderConfig::default()).unwrap();
        assert_eq!(s.matches("fn stencil_weights").count(), 1);
    }

    fn expand(src: &str) -> Result<String, ShaderError> {
        let mut out = String::new();
        ShaderLibrary::expand("test", src, &[], &mut HashSet::new(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn unroll_repeats_lines_with_the_index() {
        let s = expand("a\n#unroll 3 K\nx[K] = K + KK + K_1;\n#endunroll\nb\n").unwrap();
        assert_eq!(
            s,
            "a\nx[0u] = 0u + KK + K_1;\nx[1u] = 1u + KK + K_1;\nx[2u] = 2u + KK + K_1;\nb\n"
        );
        assert_eq!(replace_word("SS S(S)", "S", "1u"), "SS 1u(1u)");
    }

    #[test]
    fn bad_unroll_directives_are_errors() {
        for src in [
            "#unroll 3 K\nx\n",
            "#endunroll\n",
            "#unroll K\n#endunroll\n",
            "#unroll 0 K\n#endunroll\n",
            "#unroll 2 K\n#unroll 2 J\n#endunroll\n#endunroll\n",
        ] {
            assert!(
                matches!(expand(src), Err(ShaderError::Directive { .. })),
                "{src:?}"
            );
        }
    }

    #[test]
    fn missing_module_is_an_error() {
        assert!(matches!(
            ShaderLibrary::compose("nope/none", ShaderConfig::default()),
            Err(ShaderError::NotFound(_))
        ));
    }
}
