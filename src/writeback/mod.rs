//! Write-back of device changes to IMAP (placeholder).
//!
//! PLACEHOLDER: being written in this session; nothing here is done yet.
