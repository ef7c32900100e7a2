//! SMTP transports (placeholder).
//!
//! PLACEHOLDER: being written in this session; nothing here is done yet.
