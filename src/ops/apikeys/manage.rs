//! `apikeys` manage operations (being built).
