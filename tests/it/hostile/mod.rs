//! Nothing a peer sends can crash, wedge or starve either binary: the attacks
//! once seen on real builds, replayed through the built binaries.

mod control_plane;
mod numbers;
mod processes;
mod relay;
