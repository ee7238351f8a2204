//! # aftersale-server
//!
//! The HTTP service of aftersale (`aftersale serve`): under construction.
