//! `device` (placeholder: being written in this session).

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    List,
}

pub async fn device(_app: &App, _c: DeviceCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
