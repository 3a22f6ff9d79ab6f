//! The control plane: BIRD's control-socket protocol and the HTTP endpoints.
