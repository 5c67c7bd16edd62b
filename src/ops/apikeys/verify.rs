//! `apikeys` verify operations (being built).
