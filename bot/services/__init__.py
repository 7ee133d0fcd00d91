"""The use cases, by purpose. The conversation services: `directory` (users, roles),
`transitions` (the compare-and-set, per-conversation locks, subscribers), `queue` (lookup and
visibility), `posting` and `effects` (chat effects, room strategies in `rooms`), `routing`,
`presence`, `conversations` and `transfers` (the agent's use cases), `room_messages` (storing,
auto-resume), built together by `build.build_services`; then intake, reconcile, notify, canned,
contacts, calls, search, transcripts, timers."""
