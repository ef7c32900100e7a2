//! `vacation`, `autoreply` (placeholder: being written in this session).

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum VacationCmd {
    Show,
}

#[derive(Debug, Subcommand)]
pub enum AutoreplyCmd {
    Explain,
}

pub async fn vacation(_app: &App, _c: VacationCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn autoreply(_app: &App, _c: AutoreplyCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
