//! The process's life around the requests: the pid file, the allocator's settings, the
//! background upkeep, and shutdown from the signal to the exit.

pub mod housekeeping;
pub mod memory;
pub mod pid_file;
pub mod shutdown;
