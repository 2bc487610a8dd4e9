"""Attendance registers: codes, histories and their readers, calendars, measures."""
