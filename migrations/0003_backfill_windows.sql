-- Progress of a parallel backfill: the time range split into windows, each
-- read by its own cursor and committed page by page. Rows exist only while
-- a backfill is unfinished, so a restarted run resumes every window where it
-- stopped and skips the finished ones.
CREATE TABLE retino.sync_windows (
    account     text NOT NULL,
    window_from timestamptz NOT NULL,
    window_to   timestamptz NOT NULL,
    cursor      timestamptz,
    done        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (account, window_from)
);
COMMENT ON TABLE retino.sync_windows IS 'Windows of an unfinished parallel backfill, per account; empty when none is under way.';
COMMENT ON COLUMN retino.sync_windows.account IS 'Configured account name.';
COMMENT ON COLUMN retino.sync_windows.window_from IS 'First updated_at of the window (inclusive).';
COMMENT ON COLUMN retino.sync_windows.window_to IS 'Last updated_at of the window (inclusive).';
COMMENT ON COLUMN retino.sync_windows.cursor IS 'Largest updated_at stored from this window so far.';
COMMENT ON COLUMN retino.sync_windows.done IS 'The window has been read to its end.';
