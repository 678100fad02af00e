// Controller index claims: lowest free index, exclusion between holders in
// one process and across processes, stale locks of dead processes, and the
// refusal of lock directories and files an attacker could have prepared.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "nvmecuse/cuse/claim.hpp"

namespace nvmecuse::cuse {
namespace {

namespace fs = std::filesystem;

class CuseClaim : public ::testing::Test {
protected:
    void SetUp() override
    {
        char pattern[] = "/tmp/nvmecuse-claim-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        root_ = pattern;
        dir_ = root_ / "run";
    }

    void TearDown() override
    {
        if (child_ > 0) kill_child();
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    /// Forks a child that claims index `n` in dir_ and waits to be killed.
    /// Returns once the child holds the claim.
    void start_child_holding(unsigned n)
    {
        int ready[2];
        ASSERT_EQ(::pipe(ready), 0);
        child_ = ::fork();
        ASSERT_GE(child_, 0);
        if (child_ == 0) {
            ::close(ready[0]);
            auto claim = IndexClaim::claim_exact(dir_, n);
            const char status = claim ? 'y' : 'n';
            if (::write(ready[1], &status, 1) != 1) ::_exit(2);
            for (;;)
                ::pause();
        }
        ::close(ready[1]);
        char status = 0;
        ASSERT_EQ(::read(ready[0], &status, 1), 1);
        ::close(ready[0]);
        ASSERT_EQ(status, 'y') << "the child could not claim index " << n;
    }

    void kill_child()
    {
        ASSERT_EQ(::kill(child_, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(::waitpid(child_, &status, 0), child_);
        EXPECT_TRUE(WIFSIGNALED(status));
        child_ = -1;
    }

    fs::path root_;
    fs::path dir_;
    pid_t child_ = -1;
};

unsigned index_of(const std::expected<IndexClaim, std::error_code>& claim)
{
    EXPECT_TRUE(claim) << claim.error().message();
    return claim ? claim->index() : ~0u;
}

TEST_F(CuseClaim, CreatesTheDirectory0700AndClaimsZero)
{
    auto claim = IndexClaim::claim_lowest(dir_);
    ASSERT_TRUE(claim) << claim.error().message();
    EXPECT_EQ(claim->index(), 0u);
    EXPECT_TRUE(claim->held());
    EXPECT_EQ(claim->lock_path(), dir_ / "nvme0.lock");

    struct stat st {};
    ASSERT_EQ(::lstat(dir_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    ASSERT_EQ(::lstat(claim->lock_path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST_F(CuseClaim, DirectoryIs0700EvenUnderAZeroUmask)
{
    const mode_t old = ::umask(0);
    auto claim = IndexClaim::claim_lowest(dir_);
    ::umask(old);
    ASSERT_TRUE(claim) << claim.error().message();
    struct stat st {};
    ASSERT_EQ(::lstat(dir_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(CuseClaim, LockFileHoldsOurPid)
{
    auto claim = IndexClaim::claim_lowest(dir_);
    ASSERT_TRUE(claim) << claim.error().message();
    std::ifstream file(claim->lock_path());
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, std::to_string(::getpid()) + "\n");
    auto pid = IndexClaim::holder_pid(dir_, 0);
    ASSERT_TRUE(pid) << pid.error().message();
    EXPECT_EQ(*pid, ::getpid());
}

TEST_F(CuseClaim, TwoClaimsGetZeroAndOne)
{
    auto first = IndexClaim::claim_lowest(dir_);
    auto second = IndexClaim::claim_lowest(dir_);
    EXPECT_EQ(index_of(first), 0u);
    EXPECT_EQ(index_of(second), 1u);
}

TEST_F(CuseClaim, LowestFreeIndexFillsAGap)
{
    std::vector<IndexClaim> claims;
    for (unsigned i = 0; i < 4; ++i) {
        auto claim = IndexClaim::claim_lowest(dir_);
        ASSERT_EQ(index_of(claim), i);
        claims.push_back(std::move(*claim));
    }
    claims.erase(claims.begin() + 2); // releases index 2
    EXPECT_FALSE(fs::exists(dir_ / "nvme2.lock"));
    EXPECT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 2u);
}

TEST_F(CuseClaim, ReleaseThenReclaimGetsZeroAgain)
{
    {
        auto claim = IndexClaim::claim_lowest(dir_);
        ASSERT_EQ(index_of(claim), 0u);
    }
    EXPECT_FALSE(fs::exists(dir_ / "nvme0.lock")) << "the destructor unlinks the lock file";
    EXPECT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 0u);
}

TEST_F(CuseClaim, ExplicitReleaseAndMoves)
{
    auto claim = IndexClaim::claim_lowest(dir_);
    ASSERT_TRUE(claim);
    IndexClaim moved = std::move(*claim);
    EXPECT_FALSE(claim->held());
    EXPECT_TRUE(moved.held());
    EXPECT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 1u); // 0 still held by `moved`

    auto other = IndexClaim::claim_exact(dir_, 5);
    ASSERT_TRUE(other);
    moved = std::move(*other); // releases 0, takes over 5
    EXPECT_EQ(moved.index(), 5u);
    EXPECT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 0u);

    moved.release();
    EXPECT_FALSE(moved.held());
    EXPECT_FALSE(fs::exists(dir_ / "nvme5.lock"));
    moved.release(); // idempotent
    EXPECT_EQ(index_of(IndexClaim::claim_exact(dir_, 5)), 5u);
}

std::size_t open_fd_count()
{
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd"))
        ++count;
    return count;
}

TEST_F(CuseClaim, NoDescriptorLeaksOnSuccessOrFailure)
{
    const std::size_t before = open_fd_count();
    for (int i = 0; i < 10; ++i) {
        auto a = IndexClaim::claim_lowest(dir_);
        auto b = IndexClaim::claim_exact(dir_, 0); // in use
        ASSERT_TRUE(a);
        ASSERT_FALSE(b);
    }
    EXPECT_EQ(open_fd_count(), before);
}

TEST_F(CuseClaim, ClaimExactOfAHeldIndexIsInUse)
{
    auto first = IndexClaim::claim_exact(dir_, 3);
    ASSERT_EQ(index_of(first), 3u);
    auto second = IndexClaim::claim_exact(dir_, 3);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), ClaimErrc::index_in_use);
    EXPECT_EQ(second.error().message(), "controller index is claimed by another holder");
    EXPECT_TRUE(fs::exists(dir_ / "nvme3.lock")) << "a failed claim leaves the holder's file alone";
}

TEST_F(CuseClaim, NoFreeIndexBelowMax)
{
    auto a = IndexClaim::claim_lowest(dir_, 2);
    auto b = IndexClaim::claim_lowest(dir_, 2);
    ASSERT_TRUE(a && b);
    auto c = IndexClaim::claim_lowest(dir_, 2);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), ClaimErrc::no_free_index);
    EXPECT_EQ(IndexClaim::claim_lowest(dir_, 0).error(), ClaimErrc::no_free_index);
}

TEST_F(CuseClaim, ChildHoldingZeroMakesParentGetOne)
{
    start_child_holding(0);
    auto pid = IndexClaim::holder_pid(dir_, 0);
    ASSERT_TRUE(pid) << pid.error().message();
    EXPECT_EQ(*pid, child_);
    EXPECT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 1u);
    EXPECT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::index_in_use);
}

TEST_F(CuseClaim, StaleLockOfAKilledProcessIsReclaimed)
{
    start_child_holding(0);
    ASSERT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::index_in_use);
    const pid_t dead = child_;
    kill_child();
    // SIGKILL left the lock file (and the dead pid) behind; only the lock is gone.
    ASSERT_TRUE(fs::exists(dir_ / "nvme0.lock"));
    EXPECT_EQ(IndexClaim::holder_pid(dir_, 0).value_or(0), dead);

    auto claim = IndexClaim::claim_lowest(dir_);
    ASSERT_EQ(index_of(claim), 0u);
    EXPECT_EQ(IndexClaim::holder_pid(dir_, 0).value_or(0), ::getpid());
}

TEST_F(CuseClaim, StaleFileWithLongerOldContentsIsOverwritten)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    std::ofstream(dir_ / "nvme0.lock") << "123456789012\n";
    ASSERT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 0u);
}

TEST_F(CuseClaim, SymlinkedLockFileIsRefused)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    const fs::path target = root_ / "victim";
    std::ofstream(target) << "precious";
    fs::create_symlink(target, dir_ / "nvme0.lock");

    auto lowest = IndexClaim::claim_lowest(dir_);
    ASSERT_FALSE(lowest) << "claimed " << lowest->index();
    EXPECT_EQ(lowest.error(), ClaimErrc::lock_file_is_symlink);
    EXPECT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::lock_file_is_symlink);
    std::ifstream victim(target);
    std::string text;
    victim >> text;
    EXPECT_EQ(text, "precious");
}

TEST_F(CuseClaim, DanglingSymlinkedLockFileIsRefusedAndCreatesNothing)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    const fs::path target = root_ / "would-be-created";
    fs::create_symlink(target, dir_ / "nvme0.lock");
    EXPECT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::lock_file_is_symlink);
    EXPECT_FALSE(fs::exists(target));
}

TEST_F(CuseClaim, LockFileThatIsNotARegularFileIsRefused)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    ASSERT_EQ(::mkfifo((dir_ / "nvme0.lock").c_str(), 0600), 0);
    EXPECT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::lock_file_insecure);
}

TEST_F(CuseClaim, HardLinkedLockFileIsRefused)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    const fs::path other = root_ / "elsewhere";
    std::ofstream(other) << "x";
    fs::create_hard_link(other, dir_ / "nvme0.lock");
    EXPECT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::lock_file_insecure);
}

TEST_F(CuseClaim, SymlinkedDirectoryIsRefused)
{
    const fs::path real = root_ / "real";
    ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
    fs::create_directory_symlink(real, dir_);
    auto claim = IndexClaim::claim_lowest(dir_);
    ASSERT_FALSE(claim);
    EXPECT_EQ(claim.error(), ClaimErrc::directory_is_symlink);
    EXPECT_EQ(claim.error().message(),
              "controller claim directory is a symbolic link (refusing to follow it)");
    EXPECT_TRUE(fs::is_empty(real));
}

TEST_F(CuseClaim, DanglingSymlinkedDirectoryIsRefused)
{
    fs::create_directory_symlink(root_ / "nowhere", dir_);
    EXPECT_EQ(IndexClaim::claim_lowest(dir_).error(), ClaimErrc::directory_is_symlink);
    EXPECT_FALSE(fs::exists(root_ / "nowhere"));
}

TEST_F(CuseClaim, FileInPlaceOfTheDirectoryIsRefused)
{
    std::ofstream(dir_) << "";
    EXPECT_EQ(IndexClaim::claim_lowest(dir_).error(), ClaimErrc::not_a_directory);
}

TEST_F(CuseClaim, WorldWritableDirectoryIsRefused)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0); // sticky like /tmp does not help
    auto claim = IndexClaim::claim_lowest(dir_);
    ASSERT_FALSE(claim);
    EXPECT_EQ(claim.error(), ClaimErrc::directory_insecure_mode);
    EXPECT_FALSE(fs::exists(dir_ / "nvme0.lock"));
}

TEST_F(CuseClaim, GroupWritableDirectoryIsRefused)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(dir_.c_str(), 0770), 0);
    EXPECT_EQ(IndexClaim::claim_lowest(dir_).error(), ClaimErrc::directory_insecure_mode);
}

TEST_F(CuseClaim, ReadableButNotWritableByOthersIsAccepted)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    EXPECT_EQ(index_of(IndexClaim::claim_lowest(dir_)), 0u);
}

TEST_F(CuseClaim, DirectoryOwnedBySomeoneElseIsRefused)
{
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the directory away";
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    ASSERT_EQ(::chown(dir_.c_str(), 65534, 65534), 0);
    EXPECT_EQ(IndexClaim::claim_lowest(dir_).error(), ClaimErrc::directory_wrong_owner);
}

TEST_F(CuseClaim, LockFileOwnedBySomeoneElseIsRefused)
{
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    const fs::path file = dir_ / "nvme0.lock";
    std::ofstream(file) << "";
    ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
    EXPECT_EQ(IndexClaim::claim_exact(dir_, 0).error(), ClaimErrc::lock_file_insecure);
}

TEST_F(CuseClaim, MissingParentIsAnErrno)
{
    auto claim = IndexClaim::claim_lowest(root_ / "no" / "such" / "dir");
    ASSERT_FALSE(claim);
    EXPECT_EQ(claim.error(), std::errc::no_such_file_or_directory);
}

TEST_F(CuseClaim, HolderPidErrors)
{
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    EXPECT_EQ(IndexClaim::holder_pid(dir_, 0).error(), std::errc::no_such_file_or_directory);
    std::ofstream(dir_ / "nvme1.lock") << "";
    EXPECT_EQ(IndexClaim::holder_pid(dir_, 1).error(), std::errc::invalid_argument);
    std::ofstream(dir_ / "nvme2.lock") << "12ab\n";
    EXPECT_EQ(IndexClaim::holder_pid(dir_, 2).error(), std::errc::invalid_argument);
}

TEST_F(CuseClaim, ManyConcurrentClaimersGetDistinctIndexes)
{
    // Processes racing to claim and release: every held index is unique at
    // every moment. Each child claims, checks that nobody else wrote its pid
    // into the file while it held it, and releases, many times.
    constexpr int children = 4;
    constexpr int rounds = 200;
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    std::vector<pid_t> pids;
    for (int c = 0; c < children; ++c) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            for (int r = 0; r < rounds; ++r) {
                auto claim = IndexClaim::claim_lowest(dir_, 64);
                if (!claim) ::_exit(10);
                auto holder = IndexClaim::holder_pid(dir_, claim->index());
                if (!holder || *holder != ::getpid()) ::_exit(11);
            }
            ::_exit(0);
        }
        pids.push_back(pid);
    }
    for (const pid_t pid : pids) {
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0);
    }
}

} // namespace
} // namespace nvmecuse::cuse
