//! Layouts written on both sides of the host/shader boundary, compared so
//! that they cannot drift: the `Params` uniform's members against the host
//! packing (`ductile_sim::mpm::model`), and the record strides and indices
//! of tools, controls and loss terms against the WGSL constants the kernels
//! index with. Needs no adapter: the shaders are composed and parsed by naga.

use ductile_gpu::{AtomicsMode, Precision, ShaderConfig, ShaderLibrary};
use ductile_sim::control::CONTROL_RECORD_REALS;
use ductile_sim::loss::LOSS_TERM_REALS;
use ductile_sim::mpm::model::{PARAMS_INTS_BYTES, PARAMS_REALS};
use ductile_sim::tools::{TOOL_FRICTION, TOOL_RECORD_REALS, TOOL_SOFTNESS};

fn configs() -> [ShaderConfig; 2] {
    [Precision::F32, Precision::F64].map(|precision| ShaderConfig {
        precision,
        atomics: AtomicsMode::CompareSwap,
    })
}

fn parse(name: &str, src: &str, config: ShaderConfig) -> naga::Module {
    let composed = ShaderLibrary::compose_source(name, src, config).unwrap();
    naga::front::wgsl::parse_str(&composed)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(&composed)))
}

/// The value of `const NAME: u32` in `module`.
fn const_u32(module: &naga::Module, name: &str) -> u32 {
    let c = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no const {name}"))
        .1;
    match module.global_expressions[c.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        ref e => panic!("const {name} is {e:?}, not a u32 literal"),
    }
}

/// `Params` (shaders/mpm/params.wgsl): the integers first, then the Reals,
/// exactly as `params_bytes` packs them, in both precisions.
#[test]
fn params_uniform_matches_the_host_packing() {
    for config in configs() {
        let m = parse(
            "probe/params",
            "#import mpm/params\n@group(0) @binding(0) var<storage, read> params: Params;\n",
            config,
        );
        let (members, span) = m
            .types
            .iter()
            .find_map(|(_, t)| match (&t.name, &t.inner) {
                (Some(n), naga::TypeInner::Struct { members, span }) if n == "Params" => {
                    Some((members.clone(), *span))
                }
                _ => None,
            })
            .expect("struct Params");
        let offset = |name: &str| {
            members
                .iter()
                .find(|mb| mb.name.as_deref() == Some(name))
                .unwrap()
                .offset
        };
        assert_eq!(offset("i"), 0);
        assert_eq!(offset("r") as u64, PARAMS_INTS_BYTES, "{config:?}");
        assert_eq!(
            span as u64,
            PARAMS_INTS_BYTES + PARAMS_REALS * config.precision.bytes(),
            "{config:?}"
        );
    }
}

/// Tool records, control records and loss terms: strides and the indices
/// the host writes into, against the kernels' constants.
#[test]
fn record_strides_match_the_kernels() {
    let config = configs()[0];
    let tools = parse(
        "probe/tools",
        "#import common/tools\n\
         @group(0) @binding(0) var<storage, read> tools: array<Real>;\n\
         @group(0) @binding(1) var<storage, read> control: array<Real>;\n\
         @group(0) @binding(2) var<storage, read> sdf_values: array<f32>;\n",
        config,
    );
    assert_eq!(const_u32(&tools, "TOOL_RECORD") as usize, TOOL_RECORD_REALS);
    assert_eq!(const_u32(&tools, "TOOL_FRICTION") as usize, TOOL_FRICTION);
    assert_eq!(const_u32(&tools, "TOOL_SOFTNESS") as usize, TOOL_SOFTNESS);
    assert_eq!(
        const_u32(&tools, "CONTROL_RECORD") as usize,
        CONTROL_RECORD_REALS
    );
    let loss = parse(
        "probe/loss",
        ShaderLibrary::source("loss/loss").unwrap(),
        config,
    );
    assert_eq!(const_u32(&loss, "LOSS_TERM") as usize, LOSS_TERM_REALS);
}
