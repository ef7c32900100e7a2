//! Tables of the outbox feature (placeholder: being written in this session).
