/* Asynchronous userfaultfd write-protection and the PAGEMAP_SCAN ioctl: how the process
 * platform logs the pages a guest writes (platform/process/dirty_log.hpp).
 *
 * Linux 6.7 added UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN (6.4 UFFD_FEATURE_WP_UNPOPULATED).
 * Older uapi headers (Debian 12's are 6.1's) lack them: they are defined here with the
 * kernel's values, and only where the headers lack them. A kernel without them refuses the
 * feature bits at UFFDIO_API, which is how the platform learns it cannot log.
 *
 * Plain C: the stub (freestanding) includes it too. */
#ifndef XENOLITH_PLATFORM_PROCESS_STUB_UFFD_WP_ASYNC_H
#define XENOLITH_PLATFORM_PROCESS_STUB_UFFD_WP_ASYNC_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#ifndef PAGEMAP_SCAN
/* Page categories: what pm_scan_arg's masks select and page_region reports. */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)

/* Pages [start, end) alike in `categories`. */
struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)   /* write-protect the pages that match */
#define PM_SCAN_CHECK_WPASYNC (1 << 1) /* fail on a page without async write-protection */

struct pm_scan_arg {
    __u64 size; /* sizeof(struct pm_scan_arg) */
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end; /* where the scan stopped (the kernel writes it) */
    __u64 vec;      /* struct page_region[vec_len] */
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#endif
