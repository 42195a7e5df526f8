// The DAHDI user ABI (bindgen on dahdi/user.h) joins this build script with the DAHDI issue; until then
// the crate has no generated code and the build script only declares what it depends on.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TELVOX_VOICE_DIR");
}
