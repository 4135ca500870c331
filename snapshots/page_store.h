/* Internal to snapshots/: refcounted copies of 4 KiB RAM pages, and page
 * tables (one page id per RAM page) cut into refcounted chunks so that
 * snapshots share both pages and whole runs of unchanged table. */
#ifndef REWIND_PAGE_STORE_H
#define REWIND_PAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_PAGE_SIZE 4096u
#define CHUNK_PAGES 512u            /* one chunk covers 2 MiB of RAM */

/* A stored page. 0 is the all-zero page: it is never allocated, counted
 * or freed. Disk tables (a disk overlay's pages) read 0 as "not in the
 * overlay" instead, and name an all-zero page that is in the overlay
 * PAGE_ID_ZEROED, never allocated either. */
typedef uint32_t PageId;
#define PAGE_ID_ZERO 0u
#define PAGE_ID_ABSENT PAGE_ID_ZERO
#define PAGE_ID_ZEROED 1u

typedef struct PageStore PageStore;

PageStore *page_store_new(void);
/* Every page and chunk must have been released. */
void page_store_free(PageStore *ps);
/* Stores a copy of data with one reference (PAGE_ID_ZERO, nothing stored,
 * for an all-zero page). */
PageId page_store_put(PageStore *ps, const uint8_t *data);
/* The same for a disk overlay page: PAGE_ID_ZEROED for an all-zero one,
 * never PAGE_ID_ABSENT. */
PageId page_store_put_present(PageStore *ps, const uint8_t *data);
void page_store_ref(PageStore *ps, PageId id);
void page_store_unref(PageStore *ps, PageId id);
const uint8_t *page_store_data(const PageStore *ps, PageId id);
uint32_t page_store_refs(const PageStore *ps, PageId id);
/* Pages held (the zero pages not counted), and the bytes pages and chunks
 * take. */
uint64_t page_store_pages(const PageStore *ps);
uint64_t page_store_bytes(const PageStore *ps);

typedef struct PageChunk {
    uint32_t refs;          /* page tables sharing this chunk */
    PageId ids[CHUNK_PAGES];
} PageChunk;

typedef struct PageTable {
    uint64_t npages;
    uint32_t nchunks;
    PageChunk **chunks;
} PageTable;

/* A table whose pages are all PAGE_ID_ZERO (zero RAM, or a disk overlay
 * with no page). */
PageTable *page_table_new(PageStore *ps, uint64_t npages);
/* Shares every chunk of t (copy on write). */
PageTable *page_table_copy(PageStore *ps, const PageTable *t);
void page_table_free(PageStore *ps, PageTable *t);

static inline PageId page_table_get(const PageTable *t, uint64_t page)
{
    return t->chunks[page / CHUNK_PAGES]->ids[page % CHUNK_PAGES];
}

/* Sets a page, taking over one reference of id from the caller and
 * releasing the one the table held. */
void page_table_set(PageStore *ps, PageTable *t, uint64_t page, PageId id);

#endif
