"""Video rooms: who may enter when, the waiting room, tickets and ICE settings."""
