"""The scheduler process (APScheduler): renewals, dunning, reminders, mail delivery.

Its jobs call ``bridge.billing`` and ``bridge.mail`` only. The job definitions
arrive with the scheduler issue; the package exists so the layout and the
packaging are settled from the first release.
"""
