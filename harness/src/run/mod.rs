//! A run: cases planned and dealt to a pool of rigs ([`runner`]), one case's
//! conversation with its rig ([`session`]), what it keeps of it in bounded
//! memory ([`trace`], [`transcript`]), the codes it must never show
//! ([`privacy`], with the code scheme in [`backoffice`]), and how cases are
//! split between CI jobs ([`shard`]).

pub mod backoffice;
pub mod privacy;
pub mod runner;
pub mod session;
pub mod shard;
pub mod trace;
pub mod transcript;
