//! The `tunnel-client` operator surface through the real binary: usage errors, help, man pages,
//! completions, samples, init, profiles and doctor (also on enterprise networks).

mod doctor_net;
mod errors;
mod man;
mod surface;
