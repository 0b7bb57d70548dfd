"""Queue campaigns (Shanghai): households register for a pharmacy, the residents' committee
reviews them, and each day's supply hands out vouchers in order."""
