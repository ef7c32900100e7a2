//! Tables of the autoreply feature (placeholder: being written in this session).
