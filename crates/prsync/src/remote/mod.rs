//! prsync across hosts: the agent (`prsync --server`, started over the transport and uploaded
//! when missing, as prcp's) runs the receiving half for a push and the sending half for a
//! pull, and the two halves talk over [`wire`] messages through [`peer`]'s stand-ins.

pub mod client;
pub mod peer;
pub mod server;
pub mod wire;
