"""Sanctions lists as published: OFAC's SDN list (sdn.xml, sdn.csv) and a plain CSV of addresses (ofac.py), turned
into ListedAddress rows (records.py). Pure: bytes in, rows out; services/screening.py loads them."""
