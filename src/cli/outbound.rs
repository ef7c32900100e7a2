//! `send`, `queue`, `session` (placeholder: being written in this session).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::app::App;

#[derive(Debug, Args)]
pub struct SendArgs {
    #[arg(long)]
    pub mailbox: String,
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    List,
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    List,
}

pub async fn send(_app: &App, _a: SendArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn queue(_app: &App, _c: QueueCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn session(_app: &App, _c: SessionCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
