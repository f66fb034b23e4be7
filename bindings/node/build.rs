//! Sets the linker flags a Node native addon needs (napi-build).

fn main() {
    napi_build::setup();
}
