"""The booking engine: services, advisors, availability, bookings, tokens and staff accounts."""
