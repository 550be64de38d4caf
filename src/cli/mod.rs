//! What each command prints: the binary's side of the commands. The work
//! itself is the library's; these files only call it and format results.

pub mod check;
pub mod reconcile;
pub mod status;
pub mod sync;
pub mod tickets;
