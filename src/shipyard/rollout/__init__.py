"""Canary rollouts: a measuring reverse proxy in front of two versions of a service
(:mod:`.proxy`), the pure decision at each step (:mod:`.decide`), and the loop that carries
the decisions out (:mod:`.controller`)."""
