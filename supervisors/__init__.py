"""supervisors: Erlang/OTP-style supervision trees for trio (domain-free)."""
