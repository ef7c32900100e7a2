//! `doctor`, `dkim` (placeholder: being written in this session).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::app::App;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub mailbox: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DkimCmd {
    Keygen,
}

pub async fn doctor(_app: &App, _a: DoctorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn dkim(_app: &App, _c: DkimCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
