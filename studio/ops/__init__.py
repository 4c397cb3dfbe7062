"""Operations: the health endpoint, the sweeper's heartbeat and the scheduled housekeeping.

- `/healthz` (health.HealthMiddleware): database, cache, storage and the last sweep's age,
  for load balancers and container health checks.
- heartbeat: the sweeper records when its loop last went round (one row, shared by all).
- housekeeping: expired sessions, invitations, sign-in records and temporary files,
  run by one of the sweepers at a set interval (a row decides which: `Chore`).
"""
