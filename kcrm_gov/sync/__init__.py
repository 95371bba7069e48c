"""Reverse-ETL sync: change sets of the retl tables (:mod:`.plan`) and their push (:mod:`.push`).

The library layer over :mod:`kcrm_gov.retl.destination` (what a contract says about its destination).
"""
