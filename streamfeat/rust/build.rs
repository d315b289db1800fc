// The LMDB store (src/lmdb.rs) links the system liblmdb (Debian: liblmdb-dev), the C
// library itself (dynamically: Debian ships liblmdb.a without -fPIC); its few functions are
// declared by hand in src/lmdb.rs.
fn main() {
    println!("cargo:rustc-link-lib=lmdb");
}
