//! The Cloudreve adapter against Cloudreve V4 schemas on every backend: the
//! storage contract suite, and rows pwreset cannot read.

mod bad_rows;
mod contract;
