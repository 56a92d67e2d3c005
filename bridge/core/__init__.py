"""What every layer uses and that imports nothing else of ours: money,
errors, the clock, paging, batches of locked rows, localisation and domain
events. Nothing here imports Flask, Stripe or another ``bridge`` package."""
