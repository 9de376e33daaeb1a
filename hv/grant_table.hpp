// Grant tables, Xen's v1 ABI: a domain's table of grant_entry_v1_t lives in its own guest
// frames, and the guest grants a peer access to one of its pages by filling an entry
// (frame, peer domid, then GTF_permit_access). The hypervisor side keeps, per entry in use,
// a pin count ("active" entry): while pinned, the entry's GTF_reading/GTF_writing flags stay
// set so the granting guest's gnttab_end_foreign_access fails, exactly as under Xen.
//
// One mutex per table. Nothing here ever holds two tables' locks: a grant copy pins the
// source entry, then the destination entry, each under its own table's lock alone, and
// copies with no lock held (the pins keep both pages granted).
//
// A table holds no reference to its Domain: it shares the domain's GuestMemory, so a
// GrantMapping that outlives the granting domain keeps the pages mapped (memory-safe) and
// merely reports itself invalid.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "abi/xen.hpp"

#include "base/mapping.hpp"
#include "hv/guest_memory.hpp"

namespace xenolith::hv {

// Frames the PV domain builder reserves for the table (docs/guest-abi.md, Memory).
inline constexpr uint32_t kDefaultGrantFrames = 4;
// Per-domain limit on table frames: xl's default max_grant_frames.
inline constexpr uint32_t kDefaultMaxGrantFrames = 32;
// The most any domain may be given: Xen's default gnttab_max_frames.
inline constexpr uint32_t kMaxGrantFramesCeiling = 64;
inline constexpr uint32_t kGrantEntriesPerFrame = kPageSize / sizeof(grant_entry_v1_t);
// setup_table reports a frame index that has no guest page (yet) as this gfn.
inline constexpr xen_pfn_t kInvalidGfn = ~xen_pfn_t{0};

class GrantTable;

// A host-side mapping of one granted page, for backends in the daemon. Move-only; the
// destructor (or reset()) unmaps. While any mapping of an entry exists the entry stays
// pinned. If the granting domain dies first, the mapping turns invalid (page() is empty)
// but any span already taken stays memory-safe: the mapping keeps the RAM mapped.
class GrantMapping {
  public:
    GrantMapping() = default;
    GrantMapping(GrantMapping&& other) noexcept;
    GrantMapping& operator=(GrantMapping&& other) noexcept;
    GrantMapping(const GrantMapping&) = delete;
    GrantMapping& operator=(const GrantMapping&) = delete;
    ~GrantMapping() { reset(); }

    // GNTST_okay when mapped, else the GNTST_* reason map() failed.
    int16_t status() const { return status_; }
    explicit operator bool() const { return status_ == GNTST_okay && page_ != nullptr; }
    // Mapped and the granting domain still alive.
    bool valid() const;
    bool readonly() const { return readonly_; }
    grant_ref_t ref() const { return ref_; }
    // The granted page, exactly kPageSize bytes; empty when not valid().
    std::span<const uint8_t> page() const;
    // The same page for writing; empty when read-only or not valid().
    std::span<uint8_t> writable_page() const;
    // Unmaps now: the entry's pin drops, and with the last pin its GTF_reading/writing.
    void reset();

  private:
    friend class GrantTable;
    GrantMapping(std::shared_ptr<GrantTable> table, uint8_t* page, grant_ref_t ref, bool readonly)
        : table_(std::move(table)),
          page_(page),
          ref_(ref),
          readonly_(readonly),
          status_(GNTST_okay) {}
    explicit GrantMapping(int16_t status) : status_(status) {}

    std::shared_ptr<GrantTable> table_;  // keeps the table and, through it, the RAM alive
    uint8_t* page_ = nullptr;
    grant_ref_t ref_ = 0;
    bool readonly_ = true;
    int16_t status_ = GNTST_general_error;
};

class GrantTable : public std::enable_shared_from_this<GrantTable> {
  public:
    // Throws Error when max_frames exceeds kMaxGrantFramesCeiling.
    GrantTable(domid_t owner, std::shared_ptr<GuestMemory> memory, uint32_t max_frames);

    domid_t owner() const { return owner_; }
    uint32_t max_frames() const { return max_frames_; }
    uint32_t nr_frames() const;
    uint32_t nr_entries() const { return nr_frames() * kGrantEntriesPerFrame; }
    // The guest frame holding table frame `idx` (kInvalidGfn when it has none), for
    // frames [0, n); empty when n exceeds nr_frames().
    std::vector<xen_pfn_t> frame_list(uint32_t n) const;

    // --- Placement -----------------------------------------------------------------
    // XENMEM_add_to_physmap(XENMAPSPACE_grant_table, idx, gpfn): guest page `gpfn` becomes
    // table frame `idx`. A new frame starts zeroed, as Xen's freshly allocated ones do;
    // moving an existing frame carries its entries along. Frames between the old count and
    // idx exist with no guest page (their entries read as invalid). 0 or a negative errno.
    // With a physmap hook (PVH domains), `gpfn` may also lie outside RAM, where an
    // HVM guest puts its grant frames (Linux takes an unused physical range): the frame is
    // then a page of the table's own, which the hook maps into the guest at that gpfn.
    long place_frame(uint64_t idx, uint64_t gpfn);
    // Maps (host != nullptr) or unmaps table frame `idx`'s own page at guest frame `gpfn`
    // in the domain's physical address space. Set once, before the guest runs.
    using PhysmapHook = std::function<void(uint32_t idx, uint64_t gpfn, void* host)>;
    void set_physmap_hook(PhysmapHook hook);
    // The PV builder's frames: `count` consecutive pages from `gpa` become frames 0..count-1.
    long place_boot_frames(uint64_t gpa, uint32_t count);

    // Save/restore: a restored domain's table frames are the guest pages the saved one had
    // (kInvalidGfn: none), their entries as the restored RAM holds them, less the
    // GTF_reading/GTF_writing flags of pins that ended with the saved domain. Only into a
    // table with no frames yet, and only RAM pages: 0, or -XEN_EINVAL (hostile streams).
    long restore_frames(std::span<const xen_pfn_t> gpfns);

    // --- Use -------------------------------------------------------------------------
    // Pins entry `ref` for domain `user` (GTF_permit_access for `user`, not GTF_readonly
    // unless `readonly`), setting GTF_reading (and GTF_writing) in the guest's entry, and
    // returns a view of the granted page. Errors are GNTST_* values in status().
    GrantMapping map(grant_ref_t ref, domid_t user, bool readonly);
    // Pins on `ref` (0 when unused), for tests and diagnostics.
    uint32_t pins(grant_ref_t ref) const;
    // For `xn top`: entries the guest has made valid (any GTF type), and entries pinned by
    // a mapping now. Scans the table: a diagnostic, not a hot path.
    struct Usage {
        uint32_t entries = 0;
        uint32_t mapped = 0;
    };
    Usage usage() const;
    // Live migration: marks in the RAM's write log (GuestMemory::written) the pages the
    // host may be writing now with no mark yet: the table's RAM frames (whose flags it
    // sets) and every page pinned writable (a backend's mapping marks only as it goes).
    void mark_live_writes() const;
    // The domain is being destroyed: every pin is dropped and every mapping turns invalid.
    void close();
    bool closed() const;

  private:
    friend class GrantMapping;
    struct Active {
        uint32_t readers = 0;
        uint32_t writers = 0;
        domid_t user = 0;
        uint64_t gpfn = 0;  // the granted frame, fixed while pinned (Xen's act->mfn)
    };
    static constexpr uint64_t kNoFrame = ~uint64_t{0};
    static constexpr uint64_t kMaxOwnPageGpfn = uint64_t{1} << (40 - kPageShift);

    // The shared entry (in guest RAM or the table's own frame), or nullptr when its frame
    // has no page.
    grant_entry_v1_t* entry_locked(grant_ref_t ref) const;
    // Where table frame `idx` lives in host memory, or nullptr.
    uint8_t* frame_page_locked(uint64_t idx) const;
    void unpin(grant_ref_t ref, bool readonly);

    const domid_t owner_;
    const std::shared_ptr<GuestMemory> memory_;
    const uint32_t max_frames_;
    mutable std::mutex mutex_;
    std::vector<uint64_t> frames_;  // gpfn of each table frame, or kNoFrame
    // Whether frame i is the table's own page (outside RAM) rather than a RAM page.
    std::vector<bool> own_page_;
    Mapping own_pages_;  // max_frames_ pages, made on first use
    PhysmapHook physmap_;
    std::unordered_map<grant_ref_t, Active> active_;
    bool closed_ = false;
};

}  // namespace xenolith::hv
