"""Reverse ETL: what a retl contract says about its destination, and the syncs that send its rows."""
