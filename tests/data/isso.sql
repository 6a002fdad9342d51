-- An Isso database, written from Isso's schema (isso/db/threads.py and isso/db/comments.py):
-- mode 1 is published, 2 waits for moderation, 4 is a deleted comment kept for its replies;
-- created and modified are Unix times; remote_addr is already anonymised by Isso.
CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256));
CREATE TABLE comments (
    tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER,
    created FLOAT NOT NULL, modified FLOAT, mode INTEGER, remote_addr VARCHAR,
    text VARCHAR, author VARCHAR, email VARCHAR, website VARCHAR,
    likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL,
    notification INTEGER NOT NULL DEFAULT 0);
CREATE TABLE preferences (key VARCHAR PRIMARY KEY, value VARCHAR);
INSERT INTO preferences VALUES ('session-key', 'secret-not-imported');
INSERT INTO threads VALUES (1, '/2021/06/russia-strengthening-bases/', 'Russia Strengthening Its Bases');
INSERT INTO threads VALUES (2, '/blog/ünïcode/', NULL);
INSERT INTO comments VALUES (1, 1, NULL, 1622538000.25, NULL, 1, '203.0.113.0',
    'Top level with **Markdown** and a [link](https://example.org/)', 'Anna', 'anna@example.com',
    'https://anna.example.org', 4, 1, X'00', 1);
INSERT INTO comments VALUES (1, 2, 1, 1622541600.0, 1622545200.0, 1, '2001:db8::',
    'A reply, edited later', 'Bob', NULL, NULL, 0, 0, X'00', 0);
INSERT INTO comments VALUES (1, 3, NULL, 1622545200.0, NULL, 4, '203.0.113.0',
    '', NULL, NULL, NULL, 0, 0, X'00', 0);
INSERT INTO comments VALUES (1, 4, 3, 1622548800.0, NULL, 1, '203.0.113.0',
    'Reply to a deleted comment <script>alert(1)</script>', 'Carl', NULL, NULL, 0, 2, X'00', 0);
INSERT INTO comments VALUES (1, 5, NULL, 1622552400.0, NULL, 2, '203.0.113.0',
    'Waiting for moderation', 'Dora', NULL, NULL, 0, 0, X'00', 0);
INSERT INTO comments VALUES (2, 6, NULL, 1622556000.0, NULL, 1, NULL,
    'Ünïcödé 😀', NULL, NULL, NULL, 0, 0, X'00', 0);
INSERT INTO comments VALUES (2, 7, NULL, 'not a time', NULL, 1, NULL,
    'Broken time', 'Eve', NULL, NULL, 0, 0, X'00', 0);
