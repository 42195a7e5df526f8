//! Build script: the DAHDI user ABI.
//!
//! bindgen turns `dahdi/user.h` (Debian package `dahdi-source`; `DAHDI_INCLUDE_DIR` names another
//! include directory) into the Rust structs telvox passes to the driver's ioctls, allowlisting only
//! those. A tiny C shim compiled against the same header exports the header's request numbers and
//! `sizeof`s, so a test can check that the ioctl numbers telvox computes with nix's macros match the
//! header exactly (src/hw/dahdi/sys.rs).
use std::env;
use std::path::PathBuf;

/// The structs telvox hands to DAHDI's ioctls (and nothing else from the header).
const STRUCTS: &[&str] = &[
    "dahdi_params",
    "dahdi_bufferinfo",
    "dahdi_gains",
    "dahdi_spaninfo",
    "dahdi_echocanparams",
    "dahdi_echocanparam",
    "dahdi_dialoperation",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/hw/dahdi/shim.c");
    println!("cargo:rerun-if-env-changed=TELVOX_VOICE_DIR");
    println!("cargo:rerun-if-env-changed=DAHDI_INCLUDE_DIR");

    let include_dir = env::var_os("DAHDI_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    let header = include_dir.join("dahdi").join("user.h");
    if !header.is_file() {
        eprintln!(
            "\nerror: the DAHDI user ABI header {} is missing.\n\
             telvox's DAHDI backend is generated from it at build time.\n\
             Install it with `apt install dahdi-source` (Debian/Ubuntu), or set DAHDI_INCLUDE_DIR to the\n\
             directory that holds dahdi/user.h.\n",
            header.display()
        );
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed={}", header.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let mut builder = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_arg(format!("-I{}", include_dir.display()))
        .use_core()
        .derive_default(true)
        .derive_debug(false)
        .layout_tests(true)
        .generate_comments(false);
    for name in STRUCTS {
        builder = builder.allowlist_type(name);
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        eprintln!(
            "\nerror: bindgen could not read {}: {e}\n\
             It needs libclang: `apt install libclang-dev clang`.\n",
            header.display()
        );
        std::process::exit(1);
    });
    bindings
        .write_to_file(out.join("dahdi_sys.rs"))
        .expect("writing dahdi_sys.rs into OUT_DIR");

    cc::Build::new()
        .file("src/hw/dahdi/shim.c")
        .include(&include_dir)
        .warnings(true)
        .compile("telvox_dahdi_shim");
}
