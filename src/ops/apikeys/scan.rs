//! `apikeys` scan operations (being built).
