//! A connection: the [`WebSocket`], its [`Reader`] and [`Writer`] halves, and the write task
//! behind them.

mod batch;
mod control;
mod direct;
mod failure;
mod options;
mod prepared;
mod queue;
mod reader;
mod sink;
mod split;
mod websocket;
mod write_task;
mod writer;

pub use options::WriteOptions;
pub use prepared::PreparedMessage;
pub(crate) use queue::Shared;
pub use reader::Reader;
pub use websocket::WebSocket;
pub use writer::Writer;
