//! Reading Autobahn's `index.json` and judging the results.
//!
//! - [`behavior`]: the verdict strings Autobahn writes ([`Behavior`]).
//! - [`case_id`]: case ids such as `6.4.1` and their section ([`CaseId`]).
//! - [`index`]: parsing and loading `index.json` ([`parse_index`], [`load_index`]).
//! - [`verdict`]: whether one case passes ([`classify`], [`Policy`]).
//! - [`summary`]: counts per behaviour and per section ([`summarize`]).
//! - [`table`]: the text the report binary prints ([`render`]).
//! - [`cli`]: the report binary's command line ([`Args`]).

pub mod behavior;
pub mod case_id;
pub mod cli;
pub mod index;
pub mod summary;
pub mod table;
pub mod verdict;

pub use behavior::Behavior;
pub use case_id::CaseId;
pub use cli::{Args, ArgsError, RoleInput};
pub use index::{
    load_index, parse_index, resolve_index_path, AgentResults, CaseResult, IndexError,
};
pub use summary::{summarize, Column, SectionCounts, Summary};
pub use table::{render, render_verdict_line};
pub use verdict::{classify, Policy, Verdict, COMPRESSION_SECTIONS};
