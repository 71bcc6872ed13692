import type pg from "pg";
import type { RenderRecord, RenderStateStore } from "../../automation/index.ts";

/**
 * The render engine's recorded state in Postgres, so that every service
 * process (and a process that takes over a dead one's run) sees the same
 * record.
 */
export class PostgresRenderStateStore implements RenderStateStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async get(slug: string): Promise<RenderRecord | undefined> {
    const { rows } = await this.pool.query(`SELECT state FROM render_states WHERE slug = $1`, [slug]);
    return rows[0]?.state;
  }

  async getText(slug: string): Promise<string | undefined> {
    const { rows } = await this.pool.query(`SELECT state::text AS text FROM render_states WHERE slug = $1`, [slug]);
    return rows[0]?.text;
  }

  async put(record: RenderRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO render_states (slug, state, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (slug) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [record.slug, JSON.stringify(record)],
    );
  }

  async delete(slug: string): Promise<void> {
    await this.pool.query(`DELETE FROM render_states WHERE slug = $1`, [slug]);
  }

  async list(): Promise<string[]> {
    const { rows } = await this.pool.query(`SELECT slug FROM render_states ORDER BY slug`);
    return rows.map((r) => r.slug);
  }
}
