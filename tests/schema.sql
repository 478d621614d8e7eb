-- user_version 19
CREATE UNIQUE INDEX accounts_one_default ON accounts(owner_id) WHERE is_default = 1;
CREATE INDEX audit_log_by_email ON audit_log(email_id);
CREATE INDEX audit_log_by_thread ON audit_log(thread_id);
CREATE INDEX contact_emails_by_contact ON contact_emails(contact_id, position, email);
CREATE INDEX contacts_by_org ON contacts(org_id);
CREATE INDEX deals_by_contact ON deals(contact_id, status);
CREATE INDEX deals_by_org ON deals(org_id, status);
CREATE INDEX email_addresses_by_email ON email_addresses(email_id);
CREATE INDEX email_contacts_by_contact ON email_contacts(contact_id, email_id);
CREATE INDEX email_contacts_proposed ON email_contacts(email_id) WHERE is_proposed = 1;
CREATE INDEX email_orgs_by_org ON email_orgs(org_id, email_id);
CREATE INDEX email_orgs_proposed ON email_orgs(email_id) WHERE is_proposed = 1;
CREATE INDEX emails_by_alt_message_id ON emails(owner_id, alt_message_id)
            WHERE alt_message_id IS NOT NULL;
CREATE INDEX emails_by_date ON emails(date_utc DESC, id DESC);
CREATE INDEX emails_by_deal ON emails(deal_id) WHERE deal_id IS NOT NULL;
CREATE INDEX emails_by_message_id ON emails(owner_id, message_id_norm);
CREATE INDEX emails_by_owner_date ON emails(owner_id, date_utc DESC, id DESC);
CREATE INDEX emails_by_owner_folder_date ON emails(owner_id, folder, date_utc DESC, id DESC);
CREATE INDEX emails_by_raw ON emails(raw_sha256);
CREATE INDEX emails_by_thread ON emails(thread_id, date_utc);
CREATE INDEX emails_by_wrapper ON emails(wrapper_sha256) WHERE wrapper_sha256 IS NOT NULL;
CREATE INDEX emails_conversing_by_thread ON emails(thread_id, date_utc, id, owner_id) WHERE link_verdict IS NULL;
CREATE INDEX emails_last_by_owner ON emails(owner_id, direction, date_utc DESC, id DESC, is_last_for_owner,
            folder, link_verdict, visibility, has_link, deal_id, is_deal_proposed, from_email, message_id_norm, held_by_colleague) WHERE is_last_for_owner = 1;
CREATE INDEX emails_last_for_anyone ON emails(direction, date_utc DESC, id DESC, owner_id, is_last_for_owner,
            is_last_for_team, folder, link_verdict, visibility, has_link, deal_id, is_deal_proposed, from_email, message_id_norm, held_by_colleague)
            WHERE is_last_for_owner = 1 OR is_last_for_team = 1;
CREATE INDEX emails_needing_deal ON emails(owner_id, date_utc) WHERE needs_deal = 1;
CREATE INDEX emails_visibility_facts
            ON emails(id, owner_id, folder, visibility, has_link, deal_id, is_deal_proposed, is_read, needs_deal);
CREATE INDEX emails_with_proposed_deal ON emails(owner_id, thread_id) WHERE is_deal_proposed = 1;
CREATE INDEX locations_by_email ON locations(email_id) WHERE email_id IS NOT NULL;
CREATE INDEX locations_by_key ON locations(folder_id, source_key) WHERE source_key IS NOT NULL;
CREATE INDEX org_domains_by_org ON org_domains(org_id, domain);
CREATE INDEX orgs_by_name ON orgs(name COLLATE NOCASE);
CREATE INDEX outbox_by_owner ON outbox(owner_id, id);
CREATE INDEX outbox_by_raw ON outbox(raw_sha256);
CREATE INDEX outbox_copy_pending ON outbox(owner_id) WHERE status = 'sent' AND sent_copy = 'pending';
CREATE INDEX outbox_due ON outbox(status, due_utc);
CREATE INDEX past_skips_by_message_id ON past_skips(message_id_norm) WHERE message_id_norm IS NOT NULL;
CREATE INDEX pending_ops_by_email ON pending_ops(email_id, status);
CREATE INDEX pending_ops_open ON pending_ops(account_id, id) WHERE status IN ('pending', 'inflight');
CREATE INDEX quarantine_by_content ON quarantine(content_sha256);
CREATE INDEX quarantine_by_date ON quarantine(status, received_utc);
CREATE INDEX quarantine_by_raw ON quarantine(raw_sha256) WHERE raw_sha256 IS NOT NULL;
CREATE UNIQUE INDEX quarantine_held_once ON quarantine(content_sha256) WHERE status = 'held';
CREATE INDEX sync_runs_by_account ON sync_runs(account_id, id);
CREATE UNIQUE INDEX templates_by_name ON templates(coalesce(owner_id, 0), name);
CREATE INDEX thread_message_ids_by_message_id ON thread_message_ids(message_id);
CREATE INDEX thread_message_ids_by_thread ON thread_message_ids(thread_id);
CREATE INDEX threads_by_subject ON threads(owner_id, subject_norm, last_date_utc);
CREATE INDEX user_addresses_by_user ON user_addresses(user_id);
CREATE UNIQUE INDEX users_by_db_role ON users(db_role) WHERE db_role IS NOT NULL;
CREATE TABLE _pdmail_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_utc TEXT NOT NULL);
CREATE TABLE "accounts" (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('imap', 'maildir')),
            provider TEXT,
            address TEXT NOT NULL,
            imap_host TEXT,
            imap_port INTEGER,
            imap_security TEXT CHECK (imap_security IN ('tls', 'starttls')),
            smtp_host TEXT,
            smtp_port INTEGER,
            smtp_security TEXT CHECK (smtp_security IN ('tls', 'starttls')),
            username TEXT,
            auth TEXT NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'oauth2')),
            secret_source TEXT,
            cafile TEXT,
            maildir_path TEXT,
            since TEXT,
            folders_json TEXT,
            past TEXT,
            is_default INTEGER NOT NULL DEFAULT 0,
            created_utc TEXT NOT NULL,
            UNIQUE (owner_id, name)
        );
CREATE TABLE app_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at_utc TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id),
            action TEXT NOT NULL,
            email_id INTEGER,
            thread_id INTEGER,
            from_value TEXT,
            to_value TEXT
        );
CREATE TABLE blocked (
            pattern TEXT PRIMARY KEY,
            created_utc TEXT NOT NULL
        );
CREATE TABLE company (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT NOT NULL,
            created_utc TEXT NOT NULL
        );
CREATE TABLE company_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
CREATE TABLE contact_emails (
            email TEXT PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES contacts(id),
            position INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
CREATE TABLE "contacts" (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            org_id INTEGER REFERENCES orgs(id),
            title TEXT,
            phone TEXT,
            created_utc TEXT NOT NULL
        , first_name TEXT);
CREATE TABLE deals (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            contact_id INTEGER REFERENCES contacts(id),
            org_id INTEGER REFERENCES orgs(id),
            currency TEXT,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'won', 'lost', 'deleted')),
            created_utc TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        , value TEXT);
CREATE TABLE email_addresses (
            address TEXT NOT NULL,
            email_id INTEGER NOT NULL REFERENCES emails(id),
            role TEXT NOT NULL CHECK (role IN ('from', 'to', 'cc', 'reply_to')),
            PRIMARY KEY (address, email_id, role)
        ) WITHOUT ROWID;
CREATE TABLE email_contacts (
            email_id INTEGER NOT NULL REFERENCES emails(id),
            contact_id INTEGER NOT NULL REFERENCES contacts(id),
            address TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            is_manual INTEGER NOT NULL DEFAULT 0, caused_by INTEGER REFERENCES users(id), caused_utc TEXT, is_proposed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (email_id, contact_id)
        ) WITHOUT ROWID;
CREATE VIRTUAL TABLE email_fts USING fts5(
            subject, body_text, addresses,
            content='emails', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
CREATE TABLE 'email_fts_config'(k PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE 'email_fts_data'(id INTEGER PRIMARY KEY, block BLOB);
CREATE TABLE 'email_fts_docsize'(id INTEGER PRIMARY KEY, sz BLOB);
CREATE TABLE 'email_fts_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;
CREATE TABLE email_orgs (
            email_id INTEGER NOT NULL REFERENCES emails(id),
            org_id INTEGER NOT NULL REFERENCES orgs(id),
            address TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            is_manual INTEGER NOT NULL DEFAULT 0,
            caused_by INTEGER REFERENCES users(id),
            caused_utc TEXT,
            is_proposed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (email_id, org_id)
        ) WITHOUT ROWID;
CREATE TABLE emails (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            thread_id INTEGER NOT NULL REFERENCES threads(id),
            message_id TEXT,
            message_id_norm TEXT,
            alt_message_id TEXT,
            fingerprint TEXT NOT NULL,
            raw_sha256 TEXT NOT NULL REFERENCES raw_messages(sha256),
            wrapper_sha256 TEXT REFERENCES raw_messages(sha256),
            direction TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
            source TEXT NOT NULL CHECK (source IN ('sync', 'bcc', 'sent')),
            from_name TEXT NOT NULL DEFAULT '',
            from_email TEXT NOT NULL DEFAULT '',
            to_json TEXT NOT NULL DEFAULT '[]',
            cc_json TEXT NOT NULL DEFAULT '[]',
            addresses TEXT NOT NULL DEFAULT '',
            subject TEXT NOT NULL DEFAULT '',
            date_utc TEXT NOT NULL,
            date_source TEXT NOT NULL DEFAULT 'header',
            snippet TEXT NOT NULL DEFAULT '',
            body_text TEXT NOT NULL DEFAULT '',
            attachments_json TEXT NOT NULL DEFAULT '[]',
            folder TEXT NOT NULL DEFAULT 'inbox'
                CHECK (folder IN ('inbox', 'sent', 'archive', 'trash')),
            is_read INTEGER NOT NULL DEFAULT 0,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            visibility TEXT NOT NULL CHECK (visibility IN ('shared', 'private')),
            deal_id INTEGER REFERENCES deals(id),
            deal_rule TEXT,
            is_deal_manual INTEGER NOT NULL DEFAULT 0,
            is_links_manual INTEGER NOT NULL DEFAULT 0,
            needs_deal INTEGER NOT NULL DEFAULT 0,
            is_automated INTEGER NOT NULL DEFAULT 0,
            link_verdict TEXT,
            link_trace_json TEXT NOT NULL DEFAULT '[]',
            link_input_json TEXT NOT NULL DEFAULT '{}',
            bcc_deal_id INTEGER,
            parse_status TEXT NOT NULL DEFAULT 'ok',
            captured_utc TEXT NOT NULL, deal_caused_by INTEGER REFERENCES users(id), deal_caused_utc TEXT, is_deal_proposed INTEGER NOT NULL DEFAULT 0, is_orgs_manual INTEGER NOT NULL DEFAULT 0, has_link INTEGER NOT NULL DEFAULT 0, is_last_for_owner INTEGER NOT NULL DEFAULT 0, is_last_for_team INTEGER NOT NULL DEFAULT 0, held_by_colleague INTEGER NOT NULL DEFAULT 0,
            UNIQUE (owner_id, fingerprint)
        );
CREATE TABLE fetch_failures (
            folder_id INTEGER NOT NULL REFERENCES sync_folders(id) ON DELETE CASCADE,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            source_key TEXT,
            reason TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            first_utc TEXT NOT NULL,
            last_utc TEXT NOT NULL,
            PRIMARY KEY (folder_id, uidvalidity, uid)
        );
CREATE TABLE locations (
            id INTEGER PRIMARY KEY,
            folder_id INTEGER NOT NULL REFERENCES sync_folders(id) ON DELETE CASCADE,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            source_key TEXT,
            email_id INTEGER REFERENCES emails(id),
            flags TEXT NOT NULL DEFAULT '',
            modseq INTEGER,
            is_gone INTEGER NOT NULL DEFAULT 0,
            updated_utc TEXT NOT NULL,
            UNIQUE (folder_id, uidvalidity, uid)
        );
CREATE TABLE org_domains (
            domain TEXT NOT NULL,
            org_id INTEGER NOT NULL REFERENCES orgs(id),
            created_utc TEXT NOT NULL,
            PRIMARY KEY (domain, org_id)
        ) WITHOUT ROWID;
CREATE TABLE orgs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            created_utc TEXT NOT NULL
        );
CREATE TABLE "outbox" (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            account_id INTEGER NOT NULL,  -- no foreign key: removing an account must not erase its history
            raw_sha256 TEXT NOT NULL REFERENCES raw_messages(sha256),
            message_id TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            envelope_from TEXT NOT NULL,
            recipients_json TEXT NOT NULL,
            bcc_json TEXT NOT NULL DEFAULT '[]',
            subject TEXT NOT NULL DEFAULT '',
            visibility TEXT CHECK (visibility IN ('shared', 'private')),
            reply_to_email_id INTEGER REFERENCES emails(id),
            due_utc TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('draft', 'queued', 'sending', 'sent', 'failed', 'ambiguous', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            claimed_by TEXT,
            claimed_utc TEXT,
            body_sent_utc TEXT,
            sent_utc TEXT,
            email_id INTEGER REFERENCES emails(id),
            sent_copy TEXT NOT NULL DEFAULT 'pending'
                CHECK (sent_copy IN ('pending', 'done', 'by_provider', 'none', 'failed')),
            sent_copy_error TEXT,
            created_utc TEXT NOT NULL
        );
CREATE TABLE past_skip_addresses (
            skip_id INTEGER NOT NULL REFERENCES past_skips(id) ON DELETE CASCADE,
            address TEXT NOT NULL,
            PRIMARY KEY (skip_id, address)
        ) WITHOUT ROWID;
CREATE TABLE past_skips (
            id INTEGER PRIMARY KEY,
            folder_id INTEGER NOT NULL REFERENCES sync_folders(id) ON DELETE CASCADE,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            message_id_norm TEXT,
            recheck INTEGER NOT NULL DEFAULT 0,
            UNIQUE (folder_id, uidvalidity, uid)
        );
CREATE TABLE pending_ops (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            email_id INTEGER NOT NULL REFERENCES emails(id),
            kind TEXT NOT NULL CHECK (kind IN ('read', 'unread', 'archive', 'delete', 'restore')),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'inflight', 'done', 'skipped', 'superseded', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_utc TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        );
CREATE TABLE "quarantine" (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_utc TEXT NOT NULL,
            source TEXT NOT NULL,
            recipient TEXT,
            content_sha256 TEXT,
            raw_sha256 TEXT REFERENCES raw_messages(sha256),
            spool_path TEXT,
            size INTEGER NOT NULL,
            from_email TEXT,
            subject TEXT,
            reason TEXT NOT NULL,
            owner_id INTEGER REFERENCES users(id),
            status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'stored')),
            released_email_id INTEGER REFERENCES emails(id),
            released_utc TEXT
        );
CREATE TABLE "raw_messages" (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        );
CREATE TABLE relink_held (
            request_id INTEGER NOT NULL REFERENCES relink_requests(id),
            email_id INTEGER NOT NULL REFERENCES emails(id),
            PRIMARY KEY (request_id, email_id)
        );
CREATE TABLE relink_progress (
            user_id INTEGER PRIMARY KEY REFERENCES users(id),
            request_id INTEGER NOT NULL
        );
CREATE TABLE relink_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            caused_by INTEGER REFERENCES users(id),
            caused_utc TEXT NOT NULL,
            scope_json TEXT NOT NULL
        );
CREATE TABLE sqlite_sequence(name,seq);
CREATE TABLE sync_folders (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            role TEXT NOT NULL DEFAULT 'other'
                CHECK (role IN ('inbox', 'sent', 'archive', 'trash', 'junk', 'other')),
            uidvalidity INTEGER,
            last_uid INTEGER NOT NULL DEFAULT 0,
            highestmodseq INTEGER,
            last_full_scan_utc TEXT,
            uidnext INTEGER,
            exists_count INTEGER,
            is_missing INTEGER NOT NULL DEFAULT 0,
            last_error TEXT, past_uidnext INTEGER,
            UNIQUE (account_id, name)
        );
CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            started_utc TEXT NOT NULL,
            finished_utc TEXT,
            outcome TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'partial', 'tempfail', 'authfail', 'error', 'interrupted')),
            new INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            folder_errors_json TEXT NOT NULL DEFAULT '{}'
        , progress_utc TEXT);
CREATE TABLE templates (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER REFERENCES users(id),
            name TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL DEFAULT '',
            created_utc TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        );
CREATE TABLE thread_message_ids (
            owner_id INTEGER NOT NULL,
            message_id TEXT NOT NULL,
            thread_id INTEGER NOT NULL REFERENCES threads(id),
            PRIMARY KEY (owner_id, message_id)
        ) WITHOUT ROWID;
CREATE TABLE "threads" (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            subject_norm TEXT NOT NULL DEFAULT '',
            deal_id INTEGER REFERENCES deals(id),
            deal_rule TEXT,
            is_deal_manual INTEGER NOT NULL DEFAULT 0,
            visibility TEXT NOT NULL CHECK (visibility IN ('shared', 'private')),
            last_date_utc TEXT,
            created_utc TEXT NOT NULL
        );
CREATE TABLE user_addresses (
            email TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_utc TEXT NOT NULL
        , approved_utc TEXT, approved_by INTEGER REFERENCES users(id));
CREATE TABLE user_settings (
            user_id INTEGER NOT NULL REFERENCES users(id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (user_id, key)
        );
CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            is_admin INTEGER NOT NULL DEFAULT 0,
            created_utc TEXT NOT NULL
        , db_role TEXT, removed_utc TEXT);
CREATE TRIGGER email_contacts_counted_added AFTER INSERT ON email_contacts WHEN NEW.is_proposed = 0
        BEGIN
            UPDATE emails SET has_link = 1 WHERE id = NEW.email_id AND has_link = 0;
        END;
CREATE TRIGGER email_contacts_counted_changed AFTER UPDATE OF email_id, is_proposed ON email_contacts
        BEGIN
            UPDATE emails SET has_link = 0 WHERE id = OLD.email_id AND has_link = 1
                AND NOT EXISTS (SELECT 1 FROM email_contacts WHERE email_id = OLD.email_id AND is_proposed = 0)
                AND NOT EXISTS (SELECT 1 FROM email_orgs WHERE email_id = OLD.email_id AND is_proposed = 0);
            UPDATE emails SET has_link = 1 WHERE NEW.is_proposed = 0 AND id = NEW.email_id AND has_link = 0;
        END;
CREATE TRIGGER email_contacts_counted_removed AFTER DELETE ON email_contacts WHEN OLD.is_proposed = 0
        BEGIN
            UPDATE emails SET has_link = 0 WHERE id = OLD.email_id AND has_link = 1
                AND NOT EXISTS (SELECT 1 FROM email_contacts WHERE email_id = OLD.email_id AND is_proposed = 0)
                AND NOT EXISTS (SELECT 1 FROM email_orgs WHERE email_id = OLD.email_id AND is_proposed = 0);
        END;
CREATE TRIGGER email_orgs_counted_added AFTER INSERT ON email_orgs WHEN NEW.is_proposed = 0
        BEGIN
            UPDATE emails SET has_link = 1 WHERE id = NEW.email_id AND has_link = 0;
        END;
CREATE TRIGGER email_orgs_counted_changed AFTER UPDATE OF email_id, is_proposed ON email_orgs
        BEGIN
            UPDATE emails SET has_link = 0 WHERE id = OLD.email_id AND has_link = 1
                AND NOT EXISTS (SELECT 1 FROM email_contacts WHERE email_id = OLD.email_id AND is_proposed = 0)
                AND NOT EXISTS (SELECT 1 FROM email_orgs WHERE email_id = OLD.email_id AND is_proposed = 0);
            UPDATE emails SET has_link = 1 WHERE NEW.is_proposed = 0 AND id = NEW.email_id AND has_link = 0;
        END;
CREATE TRIGGER email_orgs_counted_removed AFTER DELETE ON email_orgs WHEN OLD.is_proposed = 0
        BEGIN
            UPDATE emails SET has_link = 0 WHERE id = OLD.email_id AND has_link = 1
                AND NOT EXISTS (SELECT 1 FROM email_contacts WHERE email_id = OLD.email_id AND is_proposed = 0)
                AND NOT EXISTS (SELECT 1 FROM email_orgs WHERE email_id = OLD.email_id AND is_proposed = 0);
        END;
CREATE TRIGGER emails_held_by_colleague_changed AFTER UPDATE OF message_id_norm, owner_id ON emails
        BEGIN
            UPDATE emails SET held_by_colleague = 1 WHERE id = NEW.id AND held_by_colleague = 0
                AND EXISTS (SELECT 1 FROM thread_message_ids m
                            WHERE m.message_id = NEW.message_id_norm AND m.owner_id != NEW.owner_id);
        END;
CREATE TRIGGER emails_last_added AFTER INSERT ON emails
        BEGIN
            UPDATE emails SET is_last_for_owner = 1 - is_last_for_owner WHERE thread_id = NEW.thread_id AND is_last_for_owner != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = NEW.thread_id AND l.link_verdict IS NULL ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
            UPDATE emails SET is_last_for_team = 1 - is_last_for_team WHERE thread_id = NEW.thread_id AND is_last_for_team != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = NEW.thread_id AND l.link_verdict IS NULL AND l.visibility = 'shared' AND ((l.deal_id IS NOT NULL AND l.is_deal_proposed = 0) OR l.has_link = 1) ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
            UPDATE emails SET held_by_colleague = 1 WHERE id = NEW.id AND held_by_colleague = 0
                AND EXISTS (SELECT 1 FROM thread_message_ids m
                            WHERE m.message_id = NEW.message_id_norm AND m.owner_id != NEW.owner_id);
        END;
CREATE TRIGGER emails_last_changed AFTER UPDATE OF thread_id, date_utc, link_verdict ON emails
            WHEN OLD.thread_id IS NOT NEW.thread_id OR OLD.date_utc IS NOT NEW.date_utc
                OR OLD.link_verdict IS NOT NEW.link_verdict
        BEGIN
            UPDATE emails SET is_last_for_owner = 1 - is_last_for_owner WHERE thread_id = NEW.thread_id AND is_last_for_owner != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = NEW.thread_id AND l.link_verdict IS NULL ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
            UPDATE emails SET is_last_for_team = 1 - is_last_for_team WHERE thread_id = NEW.thread_id AND is_last_for_team != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = NEW.thread_id AND l.link_verdict IS NULL AND l.visibility = 'shared' AND ((l.deal_id IS NOT NULL AND l.is_deal_proposed = 0) OR l.has_link = 1) ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
        END;
CREATE TRIGGER emails_last_for_team_changed AFTER UPDATE OF visibility, has_link, deal_id, is_deal_proposed
            ON emails
            WHEN OLD.visibility IS NOT NEW.visibility OR OLD.has_link IS NOT NEW.has_link
                OR OLD.deal_id IS NOT NEW.deal_id OR OLD.is_deal_proposed IS NOT NEW.is_deal_proposed
        BEGIN
            UPDATE emails SET is_last_for_team = 1 - is_last_for_team WHERE thread_id = NEW.thread_id AND is_last_for_team != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = NEW.thread_id AND l.link_verdict IS NULL AND l.visibility = 'shared' AND ((l.deal_id IS NOT NULL AND l.is_deal_proposed = 0) OR l.has_link = 1) ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
        END;
CREATE TRIGGER emails_last_moved AFTER UPDATE OF thread_id ON emails WHEN OLD.thread_id IS NOT NEW.thread_id
        BEGIN
            UPDATE emails SET is_last_for_owner = 1 - is_last_for_owner WHERE thread_id = OLD.thread_id AND is_last_for_owner != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = OLD.thread_id AND l.link_verdict IS NULL ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
            UPDATE emails SET is_last_for_team = 1 - is_last_for_team WHERE thread_id = OLD.thread_id AND is_last_for_team != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = OLD.thread_id AND l.link_verdict IS NULL AND l.visibility = 'shared' AND ((l.deal_id IS NOT NULL AND l.is_deal_proposed = 0) OR l.has_link = 1) ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
        END;
CREATE TRIGGER emails_last_removed AFTER DELETE ON emails
        BEGIN
            UPDATE emails SET is_last_for_owner = 1 - is_last_for_owner WHERE thread_id = OLD.thread_id AND is_last_for_owner != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = OLD.thread_id AND l.link_verdict IS NULL ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
            UPDATE emails SET is_last_for_team = 1 - is_last_for_team WHERE thread_id = OLD.thread_id AND is_last_for_team != (id IS (SELECT l.id FROM emails l WHERE l.thread_id = OLD.thread_id AND l.link_verdict IS NULL AND l.visibility = 'shared' AND ((l.deal_id IS NOT NULL AND l.is_deal_proposed = 0) OR l.has_link = 1) ORDER BY l.date_utc DESC, l.id DESC LIMIT 1));
        END;
CREATE TRIGGER thread_message_ids_held_by_colleague AFTER INSERT ON thread_message_ids
        BEGIN
            UPDATE emails SET held_by_colleague = 1 WHERE message_id_norm = NEW.message_id
                AND owner_id IN (SELECT id FROM users WHERE id != NEW.owner_id) AND held_by_colleague = 0;
        END;
CREATE TRIGGER thread_message_ids_held_by_colleague_changed AFTER UPDATE OF message_id, owner_id
            ON thread_message_ids
        BEGIN
            UPDATE emails SET held_by_colleague = 1 WHERE message_id_norm = NEW.message_id
                AND owner_id IN (SELECT id FROM users WHERE id != NEW.owner_id) AND held_by_colleague = 0;
        END;
